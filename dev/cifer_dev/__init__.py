"""`cifer dev`: the composition root, the one package that may import two parts (the key
service and the sidecar) to run the whole product in one process on one machine."""
