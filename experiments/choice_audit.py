"""Which held-out corpus chose what is deployed (issue 19, item 2) -> reports/choice_audit/.

Every scripted choice of the deployed recipe (augmentation preset, logreg's copies,
student kind and width, the student's calibration) was made by a rule that reads, among
inner-fold figures, the mean leave-one-corpus-out figure over RAVDESS, TESS and EMOVO,
and the main job's held-out-corpus A/B deploys the student or the teacher by that mean
alone (``ser_classic.deployment``'s rule: the student unless 3 points below). So
each corpus's held-out score took part in choosing the model that is then reported on it
held out. This audit reruns each committed rule (the script's own function) on its
committed ``summary.json`` with one corpus's held-out figures left out of that mean, for
each corpus in turn; nothing is trained. A choice that stays the same without corpus C
did not need C's held-out score. Where it changes, the report gives C's held-out figure
under both choices: what reading C's score gained on C (the selection's optimism there).

What it does not remove: the other corpora's held-out models were trained with C, and
the inner-fold models (RAVDESS actors 1-20 held out in turn) with every corpus.

    PYTHONPATH=. .venv/bin/python experiments/choice_audit.py --reports reports \\
        --out reports/choice_audit
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import ablation_conditions
import ablation_members
import ablation_students
import bench_conditions as bench  # sibling scripts: their folder is sys.path[0]
import numpy as np
import student_calibration

from ser_classic.deployment import _deployed
from ser_classic.reporting import write_text

CORPORA = bench.RECIPE_CORPORA
# report folder -> the script whose rule chose in it (reports without every stage of
# their rule, such as the seed-1 reruns of the CV alone, are skipped)
REPORTS = {
    "ablation_conditions": "ablation_conditions",
    "ablation_vocoder": "ablation_conditions",
    "ablation_pitch": "ablation_conditions",
    "ablation_pitch/speaker_norm": "ablation_conditions",
    "ablation_loud": "ablation_conditions",
    "ablation_clip_zeros": "ablation_conditions",
    "ablation_clip_zeros/speaker_norm": "ablation_conditions",
    "ablation_eq": "ablation_conditions",
    "ablation_eq/speaker_norm": "ablation_conditions",
    "ablation_members": "ablation_members",
    "ablation_students": "ablation_students",
    "ablation_width": "ablation_students",
    "ablation_logit": "ablation_students",
    "student_calibration": "student_calibration",
    "student_calibration/neutral_ref": "student_calibration",
    "ab/corpus": "corpus_ab",
    "ab/corpus_speaker_norm": "corpus_ab",
    "ab/corpus_neutral_ref": "corpus_ab",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", default="reports")
    p.add_argument("--out", default="reports/choice_audit")
    return p.parse_args(argv)


def without(loco: dict, corpus: str | None) -> dict:
    """``loco`` (candidate -> figures) with each candidate's mean UAR and mean ECE taken
    over every corpus but ``corpus`` (``None``: as committed)."""
    out = {}
    for name, entry in loco.items():
        entry = dict(entry)
        if corpus is not None and "corpora" in entry:
            rest = [v for c, v in entry["corpora"].items() if c != corpus]
            for metric in ("uar", "ece"):
                if f"mean_{metric}" in entry:
                    entry[f"mean_{metric}"] = float(np.mean([v[metric] for v in rest]))
        out[name] = entry
    return out


def rules(script: str, summary: dict) -> list[tuple[str, dict, Callable[[dict], str], str]]:
    """``(normalisation, loco, choose, metric)`` of each choice in one report:
    ``choose(loco)`` applies the script's rule with ``loco`` in place of its LOCO
    figures; ``metric`` is the held-out-corpus figure the rule reads."""
    if script == "corpus_ab":  # the main job's A/B: the student, or the teacher
        loco = {n: {"mean_uar": summary["mean"][n]["uar"],
                    "mean_ece": summary["mean"][n]["ece"],
                    "corpora": {c: {k: summary["folds"][c][n][k] for k in ("uar", "ece")}
                                for c in summary["corpora"]}}
                for n in summary["candidates"]}
        students = [n for n in summary["candidates"] if n != "teacher"]

        def choose(loco, max_loss=summary["decision"]["max_loss"]):
            return _deployed({n: {"uar": v["mean_uar"]} for n, v in loco.items()},
                             students, max_loss=max_loss)
        return [(summary["normalization"], loco, choose, "uar")]
    if script == "ablation_conditions":
        if not all(k in summary for k in ("conditions", "cv", "loco")):
            return []

        def choose(loco, summary=summary):
            scores = ablation_conditions.rule_scores({**summary, "loco": loco})
            return max(scores, key=scores.get)
        return [(summary.get("normalization", "strict"), summary["loco"], choose, "uar")]
    out = []
    for norm, res in summary["normalizations"].items():
        if script == "ablation_members":
            def choose(loco, res=res):
                scores = ablation_members.rule_scores({**res, "loco": loco})
                return max(scores, key=scores.get)
            metric = "uar"
        elif script == "ablation_students":
            def choose(loco, res=res):
                return ablation_students.decide(loco, res["conditions"],
                                                summary["students"])["chosen"]
            metric = "uar"
        else:
            def choose(loco, res=res):
                return student_calibration.decide(res["inner"], loco)["chosen"]
            metric = "ece"
        out.append((norm, res["loco"], choose, metric))
    return out


def audit_rule(loco: dict, choose: Callable[[dict], str], metric: str) -> dict:
    """One rule's choice with the LOCO figures as committed and without each corpus (for
    each, the corpus's figure under both choices); the chosen candidate's mean figure as
    committed and ``blind`` (each corpus scored under the choice made without its score);
    every candidate's mean without each corpus."""
    chosen = choose(without(loco, None))
    left = {corpus: without(loco, corpus) for corpus in CORPORA}
    row = {"metric": metric, "chosen": chosen, "without": {}}
    for corpus in CORPORA:
        alt = choose(left[corpus])
        row["without"][corpus] = {
            "chosen": alt, "held_out": {c: loco[c]["corpora"][corpus][metric]
                                        for c in dict.fromkeys((chosen, alt))}}
    row["mean"] = {"committed": loco[chosen]["mean_" + metric],
                   "blind": float(np.mean([e["held_out"][e["chosen"]]
                                           for e in row["without"].values()]))}
    row["loco"] = {c: {"all": loco[c]["mean_" + metric],
                       **{k: left[k][c]["mean_" + metric] for k in CORPORA}}
                   for c in loco if "corpora" in loco[c]}
    return row


def audit(reports: Path) -> dict:
    """Every rule of ``REPORTS`` with the LOCO figures as committed and without each
    corpus; for a changed choice, the left-out corpus's figure under both."""
    rows = []
    for name, script in REPORTS.items():
        path = reports / name / "summary.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        for norm, loco, choose, metric in rules(script, summary):
            rows.append({"report": name, "normalization": norm,
                         **audit_rule(loco, choose, metric)})
    changed = sum(e["chosen"] != r["chosen"] for r in rows for e in r["without"].values())
    return {"command": "python experiments/choice_audit.py --reports reports "
                       "--out reports/choice_audit",
            "corpora": CORPORA, "rows": rows, "changed": changed,
            "choices": len(rows) * len(CORPORA)}


def write_report(summary: dict, out: Path) -> None:
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    corpora = summary["corpora"]
    lines = ["# Which held-out corpus chose what is deployed (issue 19, item 2)", "",
             f"Command: `{summary['command']}` (seconds; it reads the committed "
             "`summary.json` of each report below and trains nothing).", "",
             "Each rule below reads the mean leave-one-corpus-out (LOCO) figure over "
             + ", ".join(c.upper() if c != "emovo" else "EMOVO" for c in corpora)
             + " among its inner-fold figures (RAVDESS actors 1-20 held out in turn; "
             "actors 21-24 are read by none), or alone (`ab/*`: the main job's A/B deploys "
             "the student unless it is 3 points below the teacher). Each is rerun here, "
             "with the script's or the library's own function, with one corpus's "
             "held-out figure left out of that mean. "
             "`same`: the rule chooses as it did without that corpus's held-out score; "
             "otherwise the choice it would have made, and the left-out corpus's figure "
             "under the committed choice -> under that one (UAR: higher is better; ECE: "
             "lower). Left in place: the other corpora's held-out models were trained "
             "with the left-out corpus, and the inner-fold models with every corpus. "
             "Choices made by a rule written in prose (`ablation_eq`'s and "
             "`ablation_vocoder`'s leads in `reports/README.md`) are audited through the "
             "LOCO table of each report: its columns give every candidate's mean without "
             "each corpus.", "",
             f"**{summary['changed']} of {summary['choices']} choices change** when the "
             "corpus they are reported on is left out of the rule.", "",
             "`chosen`: the script's rule on the committed figures; `mean`: the LOCO mean "
             "figure of the chosen candidate as committed -> with each corpus scored "
             "under the choice made without its score.", "",
             "| report | normalisation | chosen | " + " | ".join(
                 f"without {c}" for c in corpora) + " | mean |",
             "|---|---|---|" + "---|" * (len(corpora) + 1)]
    for r in summary["rows"]:
        cells = []
        for c in corpora:
            e = r["without"][c]
            if e["chosen"] == r["chosen"]:
                cells.append("same")
            else:
                a, b = (e["held_out"][k] for k in (r["chosen"], e["chosen"]))
                cells.append(f"**{e['chosen']}** ({c} {r['metric'].upper()} "
                             f"{a:.3f} -> {b:.3f})")
        mean = r["mean"]
        lines.append(f"| `{r['report']}` | {r['normalization']} | {r['chosen']} | "
                     + " | ".join(cells) + f" | {r['metric'].upper()} "
                     f"{mean['committed']:.3f} -> {mean['blind']:.3f} |")
    lines += ["", "## Each candidate's LOCO mean, without each corpus", ""]
    for r in summary["rows"]:
        lines += [f"`{r['report']}`, {r['normalization']}, mean {r['metric'].upper()}:", "",
                  "| candidate | all | " + " | ".join(f"without {c}" for c in corpora)
                  + " |", "|---|---|" + "---|" * len(corpora)]
        for cand, m in r["loco"].items():
            mark = " **chosen**" if cand == r["chosen"] else ""
            lines.append(f"| {cand}{mark} | {m['all']:.3f} | "
                         + " | ".join(f"{m[c]:.3f}" for c in corpora) + " |")
        lines.append("")
    write_text(out / "summary.md", "\n".join(lines))


def main(argv=None) -> int:
    args = parse_args(argv)
    summary = audit(Path(args.reports))
    write_report(summary, Path(args.out))
    print(f"wrote {args.out}/summary.md: {summary['changed']} of {summary['choices']} "
          "choices change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
