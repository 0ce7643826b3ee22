import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";

// The embedded database has one owner at a time: the process holding this lock on the data folder.
// The lock is a directory `owner.lock` holding `owner.json` (who holds it, and where its control
// channel listens). It is made whole elsewhere and renamed into place, so it never exists without
// its owner: a reader always learns who holds it. proper-lockfile's lock is an empty directory whose
// mtime it polices, so it cannot carry the owner (a file inside changes that mtime and blocks its
// rmdir); the owner's pid is what lets a restart after a kill take the lock over at once.

export type LockRole = "server" | "admin";

export type LockOwner = {
  pid: number;
  host: string;
  role: LockRole;
  /** Where the server's control channel listens (src/control-channel.ts); null until it does, and for an admin command. */
  control: string | null;
  since: string;
  /** Tells this holding from any later one of the same pid. */
  nonce: string;
};

export type DataLock = {
  readonly owner: LockOwner;
  /** Announces where this holder's control channel listens, once it does. */
  announceControl(path: string): void;
  /** Gives the lock up; a no-op once released or lost. */
  release(): void;
};

export type LockAttempt = { acquired: DataLock } | { heldBy: LockOwner | null };

const LOCK_DIR = "owner.lock";
const OWNER_FILE = "owner.json";
/** How often the holder proves it is alive (and checks it still holds the lock). */
const HEARTBEAT_MS = 2_000;
/**
 * A holder whose heartbeat is this old is gone even if its pid is alive: the pid was reused (after a
 * container restart) or the holder runs on another host that shares the folder.
 */
const STALE_MS = 30_000;
/** A lock directory without an owner file (an interrupted takeover) this old is taken over. */
const ORPHAN_MS = 5_000;

export function lockDirOf(dataDir: string): string {
  return join(resolve(dataDir), LOCK_DIR);
}

/**
 * Takes the lock on `dataDir` unless a live process holds it. `onLost` runs if another process
 * takes the lock over while this one holds it (only possible when this one stopped heartbeating).
 */
export function tryLockDataDir(dataDir: string, role: LockRole, onLost: () => void): LockAttempt {
  const folder = resolve(dataDir);
  mkdirSync(folder, { recursive: true });
  const lockDir = join(folder, LOCK_DIR);
  const owner: LockOwner = { pid: process.pid, host: hostname(), role, control: null, since: new Date().toISOString(), nonce: randomUUID() };
  for (let attempt = 0; attempt < 5; attempt++) {
    const staging = join(folder, `.owner-${owner.nonce}`);
    mkdirSync(staging);
    writeFileSync(join(staging, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
    try {
      renameSync(staging, lockDir);
      return { acquired: holdLock(lockDir, owner, onLost) };
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (!isTaken(error)) throw error;
    }
    const holder = readOwner(lockDir);
    if (holder === "missing") continue; // released meanwhile
    if (holder === "unreadable") {
      if (ageOf(lockDir) < ORPHAN_MS) return { heldBy: null };
      evict(lockDir, null);
      continue;
    }
    if (!isStale(holder, lockDir)) return { heldBy: holder };
    evict(lockDir, holder.nonce);
  }
  return { heldBy: null };
}

function holdLock(lockDir: string, owner: LockOwner, onLost: () => void): DataLock {
  const ownerFile = join(lockDir, OWNER_FILE);
  let held = true;
  const stillOurs = () => {
    const holder = readOwner(lockDir);
    return typeof holder === "object" && holder.nonce === owner.nonce;
  };
  const heartbeat = setInterval(() => {
    if (!stillOurs()) {
      held = false;
      clearInterval(heartbeat);
      onLost();
      return;
    }
    try {
      const now = new Date();
      utimesSync(ownerFile, now, now);
    } catch {
      // A missed beat is harmless: the next one retries, and staleness needs many in a row.
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const release = () => {
    if (!held) return;
    held = false;
    clearInterval(heartbeat);
    process.removeListener("exit", release);
    if (!stillOurs()) return;
    // Renamed away first, so no half-deleted lock is ever visible under the lock's name.
    const tombstone = `${lockDir}.released-${owner.nonce}`;
    try {
      renameSync(lockDir, tombstone);
      rmSync(tombstone, { recursive: true, force: true });
    } catch {
      // Gone already.
    }
  };
  const announceControl = (path: string) => {
    if (!held || !stillOurs()) return;
    owner.control = path;
    // Replaced whole (write, then rename over), so a reader never sees half a file.
    const next = join(lockDir, `${OWNER_FILE}.next`);
    writeFileSync(next, JSON.stringify(owner), { mode: 0o600 });
    renameSync(next, ownerFile);
  };
  // process.exit (a failed start, a second Ctrl-C) still gives the lock back.
  process.on("exit", release);
  return { owner, announceControl, release };
}

function isTaken(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EEXIST" || code === "ENOTEMPTY" || code === "EPERM" || code === "EISDIR";
}

function readOwner(lockDir: string): LockOwner | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(join(lockDir, OWNER_FILE), "utf8");
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") return "unreadable";
    try {
      statSync(lockDir);
      return "unreadable";
    } catch {
      return "missing";
    }
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    return typeof owner.pid === "number" && typeof owner.nonce === "string" ? owner : "unreadable";
  } catch {
    return "unreadable";
  }
}

function ageOf(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Gone: its process has exited (same host), or it stopped heartbeating long ago. */
function isStale(holder: LockOwner, lockDir: string): boolean {
  if (ageOf(join(lockDir, OWNER_FILE)) > STALE_MS) return true;
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return true; // a previous life of this pid (a restarted container)
  return !isAlive(holder.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === "EPERM";
  }
}

/**
 * Removes a stale lock. It is renamed away first (atomic: of two processes evicting at once, one
 * wins); if what was renamed turns out to be a newer holding than the stale one judged, it is put back.
 */
function evict(lockDir: string, staleNonce: string | null): void {
  const tombstone = `${lockDir}.stale-${randomUUID()}`;
  try {
    renameSync(lockDir, tombstone);
  } catch {
    return; // someone else evicted it first
  }
  const moved = readOwner(tombstone);
  const sameHolding = staleNonce === null ? moved === "unreadable" : typeof moved === "object" && moved.nonce === staleNonce;
  if (!sameHolding) {
    try {
      renameSync(tombstone, lockDir);
      return;
    } catch {
      // A third process took the lock meanwhile; the holding we moved notices at its next heartbeat.
    }
  }
  rmSync(tombstone, { recursive: true, force: true });
}

/**
 * Takes the lock, waiting up to `patienceMs` while an admin command (which holds it for seconds)
 * or a holder still being set up has it; a server holding it is reported at once.
 */
export async function claimDataDir(dataDir: string, role: LockRole, options: { patienceMs: number; onLost: () => void }): Promise<LockAttempt> {
  const deadline = Date.now() + options.patienceMs;
  for (;;) {
    const attempt = tryLockDataDir(dataDir, role, options.onLost);
    if ("acquired" in attempt || attempt.heldBy?.role === "server" || Date.now() >= deadline) return attempt;
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** The one line saying who holds the embedded database. */
export function lockHeldMessage(holder: LockOwner | null, dataDir: string): string {
  const where = `the embedded database in ${resolve(dataDir)}`;
  if (holder?.role === "server") return `Another server (pid ${holder.pid}) is using ${where}; stop it first or set DATA_DIR.`;
  if (holder?.role === "admin") return `An admin command (pid ${holder.pid}) is using ${where}; try again when it ends, or set DATA_DIR.`;
  return `Another process is using ${where}; stop it first or set DATA_DIR.`;
}
