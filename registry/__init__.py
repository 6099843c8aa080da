"""Registry: the jurisdiction tree, cameras (GB/T 28181 IDs, 一机一档 records) and camera YAML.

Owns the registry tables. Must not touch streams, frames, Redis or HTTP.
"""
