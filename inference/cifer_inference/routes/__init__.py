"""The endpoints of seed 004, one module per area: health, models, keys, infer."""
