"""Generated from proto/cifer/v1/cifer.proto by scripts/gen-proto: do not edit by hand, run the script."""
