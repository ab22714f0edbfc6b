import { CiferClient } from '@cifer-io/sdk';

async function main() {
    // Initialize client
    const cifer = new CiferClient({
        apiKey: 'sk_live_abc123...',
        region: 'us-east',
    });
    
    // Create CIFER
    const myCifer = await cifer.cifers.create({
        name: 'my-encryption-key',
    });
    
    // Encrypt
    const encrypted = await cifer.encrypt(myCifer.id, Buffer.from('secret data'));
    
    // Decrypt
    const decrypted = await cifer.decrypt(encrypted.ciphertext);
    
    console.log('Decrypted:', decrypted.plaintext.toString());
}

main().catch(console.error);
