//! Build script: the commit strictdot is built from, for `strictdot_build_info`.
//!
//! `STRICTDOT_GIT_COMMIT` wins when set (an image build without `.git` in its context
//! passes it as a build argument). Otherwise the commit is read from `.git` directly, with
//! no git binary: `HEAD` holds a commit or `ref: refs/heads/NAME`, whose commit is in the
//! loose ref file or in `packed-refs`. A worktree's `.git` is a file naming its git
//! directory, whose `commondir` names the shared one (refs live there). Anything else
//! gives "unknown". Cargo runs this again when `HEAD` or the branch's ref changes, so the
//! label follows new commits.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=STRICTDOT_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let given = std::env::var("STRICTDOT_GIT_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let (commit, source) = match given {
        Some(c) => (c, "env"),
        None => {
            let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
            match from_git(&root.join(".git")) {
                Some(c) => (c, "git"),
                None => ("unknown".to_owned(), "none"),
            }
        }
    };
    println!("cargo:rustc-env=STRICTDOT_GIT_COMMIT={commit}");
    // Where it came from (env, git, none), for the test that checks it.
    println!("cargo:rustc-env=STRICTDOT_GIT_COMMIT_SOURCE={source}");
}

/// Tells cargo to run the script again when `path` changes; only for files that exist (a
/// missing one would make it run on every build).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The commit `HEAD` names in the repository whose `.git` is `dot_git`.
fn from_git(dot_git: &Path) -> Option<String> {
    watch(dot_git);
    let git_dir = if dot_git.is_file() {
        // A worktree or submodule: "gitdir: PATH", relative to the file's directory.
        let text = std::fs::read_to_string(dot_git).ok()?;
        let target = text.strip_prefix("gitdir:")?.trim();
        dot_git.parent()?.join(target)
    } else {
        dot_git.to_path_buf()
    };
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(c) => git_dir.join(c.trim()),
        Err(_) => git_dir.clone(),
    };
    let head_path = git_dir.join("HEAD");
    watch(&head_path);
    let head = std::fs::read_to_string(&head_path).ok()?;
    let head = head.trim();
    let Some(name) = head.strip_prefix("ref:").map(str::trim) else {
        return is_hash(head).then(|| head.to_owned());
    };
    // Per-worktree refs (refs/bisect, ...) live in the worktree's directory, branches in the
    // common one; packed refs only in the common one.
    let packed = common.join("packed-refs");
    watch(&packed);
    for dir in [&git_dir, &common] {
        let loose = dir.join(name);
        if let Ok(text) = std::fs::read_to_string(&loose) {
            watch(&loose);
            let c = text.trim();
            return is_hash(c).then(|| c.to_owned());
        }
    }
    // Packed: the next commit writes a loose file, which the directory's scan notices.
    if let Some(parent) = common.join(name).parent() {
        watch(parent);
    }
    // packed-refs: "HASH NAME" lines, comments after '#', peeled tags after '^'.
    let text = std::fs::read_to_string(&packed).ok()?;
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(_, n)| *n == name)
        .map(|(h, _)| h.to_owned())
        .filter(|h| is_hash(h))
}

/// A SHA-1 or SHA-256 object name in hex.
fn is_hash(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}
