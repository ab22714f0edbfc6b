// Command interop is the Go SDK's side of the cross-language tests (tests/sdk_go): it seals and
// opens files with the SDK so that the Python SDK and the CLI can open and seal the other half.
// It reads CIFER_PROXY_URL and CIFER_API_KEY.
//
//	interop encrypt CIFER_ID IN OUT         Client.Encrypt; OUT is the raw envelope
//	interop decrypt IN OUT                  Client.Decrypt
//	interop encrypt-stream CIFER_ID IN OUT  Client.EncryptStream
//	interop decrypt-stream IN OUT           Client.DecryptStream
//	interop verify-webhook BODY HEADER SECRET
//	                                        exit 0 if HEADER signs the file BODY, 1 if not
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cifer-io/sdk-go/cifer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	ctx := context.Background()
	if args[0] == "verify-webhook" {
		if len(args) != 4 {
			return fmt.Errorf("verify-webhook BODY HEADER SECRET")
		}
		body, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		if !cifer.VerifyWebhookSignature(body, args[2], args[3]) {
			os.Exit(1)
		}
		return nil
	}
	client, err := cifer.NewClient()
	if err != nil {
		return err
	}
	switch {
	case args[0] == "encrypt" && len(args) == 4:
		plain, err := os.ReadFile(args[2])
		if err != nil {
			return err
		}
		enc, err := client.Encrypt(ctx, args[1], plain)
		if err != nil {
			return err
		}
		return os.WriteFile(args[3], enc.Ciphertext, 0o600)
	case args[0] == "decrypt" && len(args) == 3:
		envelope, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		dec, err := client.Decrypt(ctx, cifer.Envelope(envelope))
		if err != nil {
			return err
		}
		return os.WriteFile(args[2], dec.Plaintext, 0o600)
	case args[0] == "encrypt-stream" && len(args) == 4:
		return stream(args[2], args[3], func(in io.Reader) (io.ReadCloser, error) {
			return client.EncryptStream(ctx, args[1], in)
		})
	case args[0] == "decrypt-stream" && len(args) == 3:
		return stream(args[1], args[2], func(in io.Reader) (io.ReadCloser, error) {
			return client.DecryptStream(ctx, in)
		})
	}
	return fmt.Errorf("unknown command or wrong arguments: %q", args)
}

func stream(inPath, outPath string, open func(io.Reader) (io.ReadCloser, error)) error {
	in, err := os.Open(inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	s, err := open(in)
	if err != nil {
		return err
	}
	defer s.Close()
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, s); err != nil {
		out.Close()
		os.Remove(outPath) // a cut-off stream's output is never left behind
		return err
	}
	return out.Close()
}
