"""Who is calling: API keys, Kubernetes ServiceAccount tokens, OIDC JWTs."""
