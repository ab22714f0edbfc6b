"""The CIFER operator: CiferKey and CiferWebhook resources reconciled by kopf into the key service."""
