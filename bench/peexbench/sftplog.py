"""Parse the slice of sftp-server's INFO log (`-l INFO`, one line per open, close, opendir,
closedir, set, mkdir, rmdir, remove, rename, posix-rename; WRITE, READDIR, STAT and
REALPATH are not logged) written during one tool run, in the shape of cmdlog.parse."""
import collections

VERBS = ("open", "close", "opendir", "closedir", "set", "mkdir", "rmdir", "remove", "rename",
         "posix-rename", "symlink", "hardlink", "fsync")


def parse(text):
    verbs, errors, lines = collections.Counter(), collections.Counter(), []
    sessions = 0
    for raw in text.splitlines():
        tok = raw.split()
        # a line may carry a "sftp-server[pid]:" style prefix; find the verb
        i = next((k for k, t in enumerate(tok[:3]) if t in VERBS or t == "session"), None)
        if i is None:
            if "error" in raw.lower() or "denied" in raw.lower():
                errors["error"] += 1
            continue
        if tok[i] == "session":
            if i + 1 < len(tok) and tok[i + 1] == "opened":
                sessions += 1
            continue
        verb = tok[i]
        verbs[verb] += 1
        lines.append(("", verb, "", " ".join(tok[i + 1:])))
    return {"verbs": verbs, "sessions": sessions, "errors": errors,
            "total": sum(verbs.values()), "lines": lines, "first": None, "last": None}
