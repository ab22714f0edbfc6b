package cifer

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
)

// KVSource is a key-value secret store to migrate from, in the shape of seed §11.2's Vault
// walk: List the keys, Read each key's fields. An adapter for HashiCorp Vault's KV engine (or
// any other store) implements these two methods; the SDK itself depends on no store's client.
type KVSource interface {
	// List returns every key to migrate.
	List(ctx context.Context) ([]string, error)
	// Read returns one key's fields and their plaintext values.
	Read(ctx context.Context, key string) (map[string][]byte, error)
}

// KVSink receives each encrypted value: the envelope for (key, field).
type KVSink interface {
	Put(ctx context.Context, key, field string, ciphertext []byte) error
}

// MigrateOptions tunes MigrateKV.
type MigrateOptions struct {
	// Verify decrypts every envelope again before handing it to the sink and compares it with
	// the source's value (seed §11.3: "verify migrated data can be decrypted"). Needs decrypt.
	Verify bool
	// Metadata is sealed with every envelope; "kv_key" and "kv_field" are added to it.
	Metadata map[string]string
}

// MigrateResult counts what MigrateKV did.
type MigrateResult struct {
	Keys   int // keys read
	Values int // values encrypted and put
}

// MigrateKV walks src (seed §11.2), encrypts every field of every key to ciferID, and puts
// each envelope into dst. Keys and fields go in sorted order, so a migration that stopped can
// be told where it got to from the result; the first failure stops it and is returned,
// wrapped with the key and field (never the value).
func MigrateKV(ctx context.Context, client *Client, ciferID string, src KVSource, dst KVSink, opts *MigrateOptions) (MigrateResult, error) {
	var result MigrateResult
	if client == nil || src == nil || dst == nil {
		return result, errors.New("cifer: MigrateKV needs a client, a source and a sink")
	}
	if opts == nil {
		opts = &MigrateOptions{}
	}
	keys, err := src.List(ctx)
	if err != nil {
		return result, fmt.Errorf("cifer: listing the source: %w", err)
	}
	keys = append([]string(nil), keys...)
	sort.Strings(keys)
	for _, key := range keys {
		fields, err := src.Read(ctx, key)
		if err != nil {
			return result, fmt.Errorf("cifer: reading %q: %w", key, err)
		}
		result.Keys++
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, field := range names {
			metadata := map[string]string{}
			for k, v := range opts.Metadata {
				metadata[k] = v
			}
			metadata["kv_key"], metadata["kv_field"] = key, field
			encrypted, err := client.Encrypt(ctx, ciferID, fields[field], WithMetadata(metadata))
			if err != nil {
				return result, fmt.Errorf("cifer: encrypting %q/%q: %w", key, field, err)
			}
			if opts.Verify {
				decrypted, err := client.Decrypt(ctx, encrypted)
				if err != nil {
					return result, fmt.Errorf("cifer: verifying %q/%q: %w", key, field, err)
				}
				if subtle.ConstantTimeCompare(decrypted.Plaintext, fields[field]) != 1 {
					return result, fmt.Errorf("cifer: verifying %q/%q: the envelope does not open to the value", key, field)
				}
			}
			if err := dst.Put(ctx, key, field, encrypted.Ciphertext); err != nil {
				return result, fmt.Errorf("cifer: putting %q/%q: %w", key, field, err)
			}
			result.Values++
		}
	}
	return result, nil
}
