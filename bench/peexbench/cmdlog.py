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
        parts = raw.split(" ", 4)
        if len(parts) < 4:
            continue
        try:
            stamp = float(parts[0])
            first = stamp if first is None else min(first, stamp)
            last = stamp if last is None else max(last, stamp)
        except ValueError:
            pass
        pid, verb, reply = parts[1], parts[2], parts[3]
        args = parts[4] if len(parts) > 4 else ""
        if reply == "-":          # proftpd logs some commands twice (e.g. OPTS_UTF8 and OPTS -)
            continue
        verb = verb.replace("_", " ")
        if verb == "SITE" and args:
            verb = "SITE " + args.split(" ", 1)[0].upper()
        verbs[verb] += 1
        pids.add(pid)
        if reply[:1] in ("4", "5"):
            errors[f"{verb} {reply}"] += 1
        lines.append((pid, verb, reply, args))
    return {"verbs": verbs, "sessions": len(pids), "errors": errors,
            "total": sum(verbs.values()), "lines": lines, "first": first, "last": last}
