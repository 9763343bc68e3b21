"""Markdown report of one benchmark mode from the per-run records."""
import collections
import statistics

PHASES = ("initial", "noop", "change")
PHASE_TITLE = {"initial": "(a) initial upload", "noop": "(b) no-op re-sync",
               "change": "(c) after 2% change"}


def _group(records):
    g = collections.defaultdict(list)
    for r in records:
        g[(r["tool"], r["phase"])].append(r)
    return g


def _med(rs):
    return statistics.median(r["wall_s"] for r in rs)


def _good(rs):
    return all(r["rc"] == 0 and not r["timed_out"] and r["verify"]["ok"] for r in rs)


def _cell(rs):
    if not rs:
        return "–"
    xs = sorted(r["wall_s"] for r in rs)
    s = f"**{statistics.median(xs):.2f}**"
    if len(xs) > 1:
        s += f" ({xs[0]:.2f}–{xs[-1]:.2f})"
    if not _good(rs):
        s += " ✗"
    return s


def _problems(rs):
    out = []
    for r in rs:
        bits = []
        if r["timed_out"]:
            bits.append("timed out")
        elif r["rc"] != 0:
            bits.append(f"exit {r['rc']}")
        if not r["verify"]["ok"]:
            bits.append(r["verify"]["summary"])
        if bits:
            out.append(f"run {r['run']} {r['phase']}: " + ", ".join(bits))
    return out


def ratios(records, tools):
    """[(peex tool, phase, peex median, best peer name, best peer median, ratio, note)]"""
    g = _group(records)
    rows = []
    for t in tools:
        if not t.startswith("peex-"):
            continue
        n = t.split("-")[1][1:]
        # rsync has one connection whatever peex's count: it is everyone's peer
        peers = [p for p in (f"lftp-p{n}", f"rclone-t{n}", "rsync-c1") if p in tools]
        for ph in PHASES:
            mine = g.get((t, ph))
            if not mine or not peers:
                continue
            cands = [(_med(g[(p, ph)]), p) for p in peers if g.get((p, ph)) and _good(g[(p, ph)])]
            note = "" if _good(mine) else "peex run failed or did not verify"
            if not cands:
                rows.append((t, ph, _med(mine), "–", None, None, "no peer with a verified result"))
                continue
            best, who = min(cands)
            rows.append((t, ph, _med(mine), who, best, _med(mine) / best if best else None, note))
    return rows


def markdown(meta, records, tools):
    g = _group(records)
    runs = max((r["run"] for r in records), default=0)
    w = []
    add = w.append
    add(f"# peex benchmark — {meta['mode_title']}\n")
    add(f"- date: {meta['date']}")
    add(f"- command: `{meta['command']}`")
    si = meta["sysinfo"]
    add(f"- machine: {si['nproc']} CPUs (nproc), kernel {si['kernel']}, Python {si['python']}")
    add(f"- versions: {si['proftpd']}; lftp {si['lftp']}; {si['rclone']}; {si['peex']}")
    tr = meta["tree"]
    add(f"- tree: {tr['files']} files ({tr['files'] - tr['big']} small 200 B–64 KiB + "
        f"{tr['big']} × {tr['big_mib']} MiB) in {tr['dirs']} dirs (depth ≤ {tr['max_depth']}), "
        f"{tr['bytes'] / 2**20:.1f} MiB, seed {tr['seed']}")
    add(f"- change before (c): {meta['change']} (seed = run number, same for every tool)")
    add(f"- link: {meta['link']}")
    if meta.get('caches'):
        add(f"- caches: {meta['caches']}")
    add(f"- runs: {runs} per tool and phase, interleaved (run 1 of every tool, then run 2, …); "
        "every run starts from a fresh copy of the tree and an empty dest")
    if meta.get("note"):
        add(f"- note: {meta['note']}")
    add("")
    add(f"## Wall time in seconds — median (min–max) of {runs} run(s)\n")
    add("✗ = some run exited non-zero, timed out or left the server different from the source.\n")
    add("| tool | " + " | ".join(PHASE_TITLE[p] for p in PHASES) + " | peak RSS MiB | verification |")
    add("|---|" + "---:|" * len(PHASES) + "---:|---|")
    for t in tools:
        rs_all = [r for p in PHASES for r in g.get((t, p), [])]
        if not rs_all:
            continue
        rss = max(r["rss_kib"] for r in rs_all) / 1024
        probs = _problems(rs_all)
        ver = "server = source after every phase" if not probs else "; ".join(probs[:4]) + \
            (f"; … ({len(probs)} problems)" if len(probs) > 4 else "")
        add(f"| {t} | " + " | ".join(_cell(g.get((t, p), [])) for p in PHASES) +
            f" | {rss:.1f} | {ver} |")
    add("")
    rows = ratios(records, tools)
    if rows:
        add("## peex ÷ best peer at the same connection count\n")
        add("Ratio of medians; **< 1 means peex is faster**. Peers: lftp and rclone with the same "
            "number of connections/transfers; only peers whose runs verified are considered.\n")
        add("| peex | phase | peex s | best peer | peer s | ratio |")
        add("|---|---|---:|---|---:|---:|")
        for t, ph, mine, who, best, ratio, note in rows:
            rt = f"**{ratio:.2f}**" if ratio is not None else "–"
            if note:
                rt += f" ({note})"
            add(f"| {t} | {PHASE_TITLE[ph]} | {mine:.2f} | {who} | "
                f"{best:.2f} | {rt} |" if best is not None else
                f"| {t} | {PHASE_TITLE[ph]} | {mine:.2f} | – | – | {rt} |")
        add("")
    if meta.get("proto") == "sftp":
        _sftp_sections(add, g, tools, rows)
        return "\n".join(w) + "\n"
    add("## FTP commands per phase (from the server's command log)\n")
    add("Run 1's counts by verb; `total` is the median over runs when runs differ. `sessions` = "
        "logins (control connections); `4xx/5xx` = replies that were errors.\n")
    add("| tool | phase | total | sessions | 4xx/5xx | by verb |")
    add("|---|---|---:|---:|---:|---|")
    for t in tools:
        for p in PHASES:
            rs = sorted(g.get((t, p), []), key=lambda r: r["run"])
            if not rs:
                continue
            first = rs[0]
            tots = [r["cmds_total"] for r in rs]
            tot = f"{first['cmds_total']}"
            if len(set(tots)) > 1:
                tot += f" (med {statistics.median(tots):.0f})"
            verbs = ", ".join(f"{k} {v}" for k, v in sorted(first["verbs"].items(),
                                                            key=lambda kv: (-kv[1], kv[0])))
            errs = sum(first["errors"].values())
            errs_s = f"{errs}" + (f" ({', '.join(f'{k}×{v}' for k, v in first['errors'].items())})"
                                  if errs else "")
            add(f"| {t} | {PHASE_TITLE[p]} | {tot} | {first['sessions']} | {errs_s} | {verbs} |")
    add("")
    add("## Commands per uploaded file (run 1)\n")
    add("Per phase: commands ÷ files stored (STOR/APPE); in (a) also per directory created (MKD). "
        "`data conns` counts PASV/EPSV/PORT/EPRT, `listings` MLSD/LIST/NLST/MLST/STAT, "
        "`time sets` MFMT/SITE UTIME.\n")
    add("| tool | phase | files stored | MKD | cmds/file | data conns/file | listings | time sets | deletes (DELE/RMD) |")
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        for p in PHASES:
            rs = sorted(g.get((t, p), []), key=lambda r: r["run"])
            if not rs:
                continue
            v = collections.Counter(rs[0]["verbs"])
            stor = v["STOR"] + v["APPE"]
            data = v["PASV"] + v["EPSV"] + v["PORT"] + v["EPRT"]
            lst = v["MLSD"] + v["LIST"] + v["NLST"] + v["MLST"] + v["STAT"]
            tm = v["MFMT"] + v["SITE UTIME"]
            per = f"{rs[0]['cmds_total'] / stor:.1f}" if stor else "–"
            dper = f"{data / stor:.2f}" if stor else "–"
            add(f"| {t} | {PHASE_TITLE[p]} | {stor} | {v['MKD'] + v['XMKD']} | {per} | {dper} | "
                f"{lst} | {tm} | {v['DELE'] + v['RMD'] + v['XRMD']} |")
    add("")
    return "\n".join(w) + "\n"


def _sftp_sections(add, g, tools, rows):
    """SFTP mode: each peex ÷ each peer, and the requests sftp-server logged."""
    if rows:
        add("## peex ÷ each peer (SFTP)\n")
        add("Ratio of medians; **< 1 means peex is faster**.\n")
        add("| peex | phase | peex s | peer | peer s | ratio |")
        add("|---|---|---:|---|---:|---:|")
        for t in tools:
            if not t.startswith("peex-"):
                continue
            for ph in PHASES:
                mine = g.get((t, ph))
                if not mine:
                    continue
                for p in tools:
                    if p.startswith("peex-") or not g.get((p, ph)):
                        continue
                    theirs = _med(g[(p, ph)])
                    ok = "" if _good(g[(p, ph)]) else " (peer did not verify)"
                    add(f"| {t} | {PHASE_TITLE[ph]} | {_med(mine):.2f} | {p} | {theirs:.2f} | "
                        f"**{_med(mine) / theirs:.2f}**{ok} |" if theirs else "")
        add("")
    add("## SFTP requests per phase (sftp-server's INFO log)\n")
    add("Run 1's counts. sftp-server logs open, close, opendir, closedir, set (setstat and "
        "fsetstat), mkdir, rmdir, remove, rename and posix-rename, not WRITE, READDIR, STAT or "
        "REALPATH; rsync runs its own server over ssh and makes no SFTP requests.\n")
    add("| tool | phase | logged | sessions | by request |")
    add("|---|---|---:|---:|---|")
    for t in tools:
        for p in PHASES:
            rs = sorted(g.get((t, p), []), key=lambda r: r["run"])
            if not rs:
                continue
            first = rs[0]
            verbs = ", ".join(f"{k} {v}" for k, v in sorted(first["verbs"].items(),
                                                            key=lambda kv: (-kv[1], kv[0])))
            add(f"| {t} | {PHASE_TITLE[p]} | {first['cmds_total']} | {first['sessions']} | "
                f"{verbs} |")
    add("")
