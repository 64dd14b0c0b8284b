# Jobs that fail on purpose, to check through a real SLURM cluster that the cluster profile
# retries a failed job (asking for more memory each time) and reports one that keeps failing.
# Run by tests/slurm/test_slurm.py with profiles/slurm; not part of the workflow.


rule all:
    input:
        "flaky.txt",
        "broken.txt",


rule flaky:
    """Fails on its first attempt and succeeds on the next, writing the python it found."""
    output:
        "flaky.txt",
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        attempt_number=lambda wildcards, attempt: attempt,
    shell:
        "if [ {resources.attempt_number} -lt 2 ]; then"
        " echo 'flaky: failing attempt {resources.attempt_number} on purpose' >&2; exit 1; fi; "
        "command -v python > {output}"


rule broken:
    """Fails on every attempt."""
    output:
        "broken.txt",
    shell:
        "echo 'broken: failing on purpose' >&2; exit 3"
