"""Events: routing policy and delivery of events into per-center Redis Streams, with a durable spool.

Must not touch frames or detection; depends only on the core schema and keys.
"""
