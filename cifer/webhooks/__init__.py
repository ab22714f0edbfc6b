"""What every signed call CIFER makes to a receiver shares: how it is signed (`signing`: the key
service's webhooks, seed 001's batch callbacks) and where it may go (`egress`: public addresses
only unless private networks are allowed)."""
