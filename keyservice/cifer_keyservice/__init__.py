"""The key service: the single owner of key state and the only process that unwraps a
private key. Sidecars send it envelope headers; it authorizes, decapsulates, audits."""
