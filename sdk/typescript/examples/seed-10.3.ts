// Messaging application
class SecureMessenger {
    private cifer: CiferClient;
    
    async sendMessage(recipientCiferId: string, message: string) {
        // Encrypt for recipient
        const encrypted = await this.cifer.encrypt(
            recipientCiferId,
            Buffer.from(message)
        );
        
        // Send encrypted message
        await api.sendMessage({
            ciphertext: encrypted.ciphertext,
        });
    }
    
    async receiveMessage(encryptedMessage: Buffer) {
        // Decrypt with own CIFER
        const decrypted = await this.cifer.decrypt(encryptedMessage);
        
        return decrypted.plaintext.toString();
    }
}

// --- What the seed's snippet leaves to its reader (nothing above this line is changed) ---
import { CiferClient } from '@cifer-io/sdk';
declare const api: { sendMessage(message: { ciphertext: Uint8Array }): Promise<void> };
