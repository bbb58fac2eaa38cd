"""Grade a class on SLURM: start Dask workers as SLURM jobs (dask-jobqueue), wait for them, run the batch in
this process, and end the jobs when it ends. The README's "Grading on a cluster" says what the nodes need.

    python scripts/slurm_batch.py --nodes 4 -- SUBMISSIONS --out OUT [more batch options]

Run it where you submit jobs (a login node), in a session that outlasts the batch (tmux or screen): the
workers live as long as this script. Each job takes one node of the partition, sized as `sinfo` shows its
smallest node, with one single-threaded worker per core. TLS is required: the certificates come from Dask's
configuration (~/.config/dask/distributed.yaml), which the README shows how to write.
"""
import argparse
import importlib.util
import subprocess
import sys


def node_size(partition: str | None) -> tuple[int, int]:
    """(cores, memory in MB) of the partition's smallest node: a job asking for more would wait for ever."""
    command = ["sinfo", "--noheader", "--Node", "--format", "%c %m", *(["--partition", partition] if partition else [])]
    try:
        listed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        said = (getattr(exc, "stderr", None) or str(exc)).strip().splitlines()
        sys.exit(f"slurm_batch: cannot ask SLURM for its nodes: {said[-1] if said else exc}")
    sizes = [line.split() for line in listed.splitlines()]
    if not sizes:
        sys.exit(f"slurm_batch: sinfo lists no node{f' in partition {partition}' if partition else ''}")
    return min(int(cores) for cores, _ in sizes), min(int(memory.rstrip("+")) for _, memory in sizes)


def slurm_cluster(jobs: int, cores: int, memory_mb: int, walltime: str = "02:00:00", **options):
    """A SLURMCluster of `jobs` jobs of `cores` single-threaded workers and `memory_mb` MiB each, over TLS from
    Dask's configuration; a job that is cancelled or reaches its walltime is replaced. `options` go to
    SLURMCluster (queue, account, ...)."""
    from dask_jobqueue import SLURMCluster
    from distributed.security import Security

    security = Security()  # distributed.comm.tls.* from Dask's configuration
    if not security.tls_ca_file:
        sys.exit("slurm_batch: no TLS settings in Dask's configuration (distributed.comm.tls); see the README's "
                 "'Grading on a cluster' for the certificates and ~/.config/dask/distributed.yaml")
    # --mem in SLURM's M (MiB) as sinfo shows it: dask-jobqueue's own rounds up to whole GiB, past a node's memory.
    cluster = SLURMCluster(cores=cores, processes=cores, memory=f"{memory_mb}MiB", job_mem=f"{memory_mb}M",
                           walltime=walltime, security=security, protocol="tls://",
                           scheduler_options={"dashboard_address": "127.0.0.1:8787"}, **options)
    cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)  # scale() would not replace a lost job
    return cluster


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s [options] -- SUBMISSIONS --out OUT [batch options]")
    parser.add_argument("--nodes", type=int, default=1, help="jobs, one node each (default: 1)")
    parser.add_argument("--partition", help="SLURM partition (default: the default partition)")
    parser.add_argument("--account", help="SLURM account to charge")
    parser.add_argument("--walltime", default="02:00:00", help="each job's time limit (default: 02:00:00)")
    parser.add_argument("--start-wait", type=float, default=600, metavar="SECONDS",
                        help="how long to wait for every worker before grading (default: 600)")
    parser.add_argument("batch", nargs=argparse.REMAINDER, help="after --: python -m grader batch's arguments")
    options = parser.parse_args(argv)
    batch = options.batch[1:] if options.batch[:1] == ["--"] else options.batch
    if not batch:
        parser.error("give the batch's arguments after --: SUBMISSIONS --out OUT")
    if importlib.util.find_spec("dask_jobqueue") is None:
        sys.exit("slurm_batch: needs dask-jobqueue: pip install 'attention-exercises[cluster]'")

    from distributed import Client

    from grader.__main__ import main as grader_main

    cores, memory_mb = node_size(options.partition)
    extra = {key: value for key, value in (("queue", options.partition), ("account", options.account)) if value}
    with slurm_cluster(options.nodes, cores, memory_mb, options.walltime, **extra) as cluster:
        with Client(cluster) as client:
            # Chunks are sized by the workers present when the batch starts: wait for all of them.
            print(f"waiting for {options.nodes * cores} workers ({options.nodes} jobs; squeue shows them)", flush=True)
            try:
                client.wait_for_workers(options.nodes * cores, timeout=options.start_wait)
            except TimeoutError:
                print(f"only {len(client.nthreads())} workers after {options.start_wait:g} s; grading with those "
                      "that come", flush=True)
        return grader_main(["batch", *batch, "--scheduler", cluster.scheduler_address])


if __name__ == "__main__":
    sys.exit(main())
