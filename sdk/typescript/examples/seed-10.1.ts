// Database field encryption
class UserRepository {
    private cifer: CiferClient;
    private ciferId: string;
    
    async createUser(email: string, ssn: string) {
        // Encrypt sensitive fields
        const encryptedSsn = await this.cifer.encrypt(this.ciferId, Buffer.from(ssn));
        
        await db.insert('users', {
            email,
            ssn_encrypted: encryptedSsn.ciphertext,
        });
    }
    
    async getUserSsn(userId: string): Promise<string> {
        const user = await db.findById('users', userId);
        
        const decrypted = await this.cifer.decrypt(user.ssn_encrypted);
        return decrypted.plaintext.toString();
    }
}

// --- What the seed's snippet leaves to its reader (nothing above this line is changed) ---
import { CiferClient } from '@cifer-io/sdk';
declare const db: {
  insert(table: string, row: Record<string, unknown>): Promise<void>;
  findById(table: string, id: string): Promise<{ ssn_encrypted: Uint8Array }>;
};
