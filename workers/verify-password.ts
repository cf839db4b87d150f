// Piscina task module (docs/ARCHITECTURE.md "Identity"): one password
// against one stored hash, on a worker thread so a bcrypt or argon2 check
// never runs on a gateway worker's event loop. Pure: no state, no I/O, no
// logging (the password must never be printed).
import bcrypt from '@node-rs/bcrypt';
import argon2 from '@node-rs/argon2';

export interface VerifyTask {
  /** A bcrypt ($2a$/$2b$/$2y$) or argon2 ($argon2id$/$argon2i$) hash, checked at load (src/filters/auth/basic/htpasswd.ts). */
  readonly hash: string;
  readonly password: string;
}

/** true when the password matches the hash. */
export default function verifyPassword(task: VerifyTask): boolean {
  if (task.hash.startsWith('$argon2')) return argon2.verifySync(task.hash, task.password);
  return bcrypt.verifySync(task.password, task.hash);
}
