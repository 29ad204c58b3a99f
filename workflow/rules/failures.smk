# The end of every `snakemake`: runs whose pack recorded a failed command (FAILED-<stage>.json, rwbench.plan.failures)
# are named one line each, their placeholder outputs are removed (so that the next `snakemake` re-runs the jobs that
# held them, and what follows from them) and the exit status is non-zero. Dry runs change nothing.


def report_failed_cells():
    """Name the failed runs of this config (one line each) and remove their placeholders; the list of records."""
    from rwbench.plan.failures import failed_runs, failure_line, remove_placeholders

    records = failed_runs(run_dir(r) for r in sorted(RUNS))
    if records:
        lines = "\n".join(f"  - {failure_line(r)}" for r in records)   # the error shortened, the log always named
        print(f"rwbench: {len(records)} failed cell(s); the other runs finished and the report lists these "
              f"(reports summary):\n{lines}", file=sys.stderr)
        for run_id in sorted({r["run_id"] for r in records}):
            remove_placeholders(run_dir(run_id))
    return records


def report_summary():
    """The end of a DAG run: runs done, runs with diverged images and their cells, and the report to open."""
    from rwbench.progress import run_summary

    option = "" if CONFIGFILE == normal_path("config/default.yaml") else f" --configfile {quote(CONFIGFILE)}"
    print(run_summary(f"{RESULTS}/metrics.csv", f"{REPORTS}/summary.html (front page; the full report: snakemake "
                      f"--report report.zip{option})", planned=len(RUNS)), file=sys.stderr)


onsuccess:
    report_summary()
    if report_failed_cells():
        from snakemake.exceptions import WorkflowError

        raise WorkflowError("rwbench: some cells failed (listed above); fix the cause and run snakemake again: the "
                            "packs that held them re-run, and what depends on them")


onerror:
    report_failed_cells()
