// Package cifer is the Go SDK of the CIFER API (seed 000 §6.2): zero-key, post-quantum
// encryption through the CIFER sidecar.
//
// An application never holds a key. It calls the sidecar in its pod (or `cifer dev` on a
// developer's machine); the sidecar seals data to a CIFER's public key, and only the key
// service can open what was sealed, for the callers the key's policy names.
//
//	client, err := cifer.NewClient(cifer.WithAPIKey(os.Getenv("CIFER_API_KEY")))
//	cif, err := client.Cifers.Create(ctx, &cifer.CreateParams{Name: "my-encryption-key"})
//	encrypted, err := client.Encrypt(ctx, cif.ID, []byte("secret data"))
//	decrypted, err := client.Decrypt(ctx, encrypted)
//
// client.Security is seed 001's data-protection API (/api/security/*): keys per user and data
// type, and strings or JSON objects sealed and opened as the seed's JSON shapes.
//
// The base URL is WithBaseURL, else $CIFER_PROXY_URL, else http://localhost:8080 (the
// sidecar); the API key is WithAPIKey, else $CIFER_API_KEY, else none (a sidecar on loopback
// then acts with its pod's own identity); WithTokenSource asks a function for it before every
// attempt instead.
//
// Every call takes a context.Context. Failures are typed per seed code (§9.1) and usable with
// errors.As: *RateLimitError, *UnauthorizedDecryptError, *NotFoundError, ... all carrying
// Code and RequestID, and all unwrapping to *CiferError; a call whose context ends returns the
// context's error. Calls answered 429 or 503, and calls
// that got no answer, are retried with backoff that honours Retry-After; every POST and PATCH
// carries an X-Idempotency-Key, the same on each retry, so a retry is never done twice. A
// circuit breaker stops calling a server that keeps failing. One http.Client (and so one
// connection pool) serves all calls of a Client. Metrics and Tracer are plain interfaces.
//
// The package uses the standard library only.
package cifer
