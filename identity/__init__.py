"""Identity: accounts, roles bound to a jurisdiction subtree, sessions and API tokens.

Owns the ``users``, ``user_sessions`` and ``api_tokens`` tables, password hashing (argon2id) and the login throttle.
Reads the jurisdiction tree (``registry.models``) to resolve a principal's scope; never touches cameras, streams,
events or HTTP (the API turns a principal into allowed or refused requests).
"""
