package main

import (
	"context"
	"log"

	"github.com/cifer-io/sdk-go/cifer"
)

func main() {
	// Initialize client
	client, err := cifer.NewClient(
		cifer.WithAPIKey("sk_live_abc123..."),
		cifer.WithRegion("us-east"),
	)
	if err != nil {
		log.Fatal(err)
	}

	// Create CIFER
	cif, err := client.Cifers.Create(context.Background(), &cifer.CreateParams{
		Name: "my-encryption-key",
	})
	if err != nil {
		log.Fatal(err)
	}

	// Encrypt
	encrypted, err := client.Encrypt(context.Background(), cif.ID, []byte("secret data"))
	if err != nil {
		log.Fatal(err)
	}

	// Decrypt
	decrypted, err := client.Decrypt(context.Background(), encrypted)
	if err != nil {
		log.Fatal(err)
	}

	log.Printf("Decrypted: %s", string(decrypted.Plaintext))
}
