"""Parse the slice of proftpd's command log (ExtendedLog ALL, format
`<epoch.millis> <pid> <verb> <reply> <args>`) written during one tool run."""
import collections

# verbs that open a data connection / list a directory / move file times
DATA_VERBS = ("PASV", "EPSV", "PORT", "EPRT")
LIST_VERBS = ("MLSD", "LIST", "NLST", "MLST", "STAT")
TIME_VERBS = ("MFMT", "SITE UTIME", "MDTM")


def parse(text):
    """Return {'verbs': Counter, 'sessions': int, 'errors': Counter(verb reply),
    'total': int, 'lines': [(pid, verb, reply, args)], 'first'/'last': epoch of the
    first/last logged command}."""
    verbs, errors, pids, lines = collections.Counter(), collections.Counter(), set(), []
    first = last = None
    for raw in text.splitlines():
        tok = raw.split(" ")
        if len(tok) < 4:
            continue
        try:
            stamp = float(tok[0])
            first = stamp if first is None else min(first, stamp)
            last = stamp if last is None else max(last, stamp)
        except ValueError:
            pass
        pid, verb, i = tok[1], tok[2], 3
        # proftpd writes SITE subcommands as "SITE CHMOD" / "SITE UTIME" (with a space)
        if verb == "SITE" and not tok[3].isdigit() and tok[3] != "-":
            verb, i = f"SITE {tok[3].upper()}", 4
        reply = tok[i] if i < len(tok) else ""
        args = " ".join(tok[i + 1:])
        if reply == "-":          # proftpd logs some commands twice (e.g. OPTS_UTF8 and OPTS -)
            continue
        verb = verb.replace("_", " ")
        verbs[verb] += 1
        pids.add(pid)
        if reply[:1] in ("4", "5"):
            errors[f"{verb} {reply}"] += 1
        lines.append((pid, verb, reply, args))
    return {"verbs": verbs, "sessions": len(pids), "errors": errors,
            "total": sum(verbs.values()), "lines": lines, "first": first, "last": last}
