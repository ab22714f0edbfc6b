"""The conventions every CIFER HTTP service shares (seed 000 §2.3 and §9): the response
body, the error codes, request ids, the request edge (`parsing`: bodies, ids, page sizes) and
the timestamp format (`timestamps`). The proxy and the key service import these."""
