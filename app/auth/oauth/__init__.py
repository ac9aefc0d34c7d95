"""Login with Google, Microsoft, GitHub and any OpenID Connect issuer (authorization code + PKCE).

providers.py  what settings enable          pending.py   a login in progress, in the store
runtime.py    discovery and JWKS caches     flow.py      the provider round trips (authlib)
idtoken.py    ID token validation           profile.py   subject and email from the provider
accounts.py   the Nox user for an identity  redirects.py where ``next`` may point
routes.py     the HTTP endpoints            errors.py    why a login failed
"""
