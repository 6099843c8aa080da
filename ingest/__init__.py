"""Ingest: one supervised ffmpeg sampler per camera stream, online/offline state and frames as numpy arrays.

Hands frames and state events to callables. Must not touch detection, Redis or the database directly.
"""
