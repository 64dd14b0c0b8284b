"""Phase 1 for one shard of users: the teacher's positive clusters and summaries."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from musicrec.console import report_errors_on_console  # noqa: E402

report_errors_on_console("synth_positives")

import time

import pandas as pd

from musicrec.io import write_json, write_parquet
from musicrec.synth.client import TeacherSettings, open_teacher
from musicrec.synth.positives import PositiveSettings, synthesize_positives
from musicrec.synth.segments import shard_users, track_texts, user_segments

params = snakemake.params  # noqa: F821
train = pd.read_parquet(snakemake.input.train, columns=["user_id", "track_idx", "timestamp"])  # noqa: F821
texts, has_metadata = track_texts(pd.read_parquet(snakemake.input.catalogue),  # noqa: F821
                                  pd.read_csv(snakemake.input.track_ids)["track_id"])  # noqa: F821
settings = PositiveSettings.from_mapping(params.positives)
users = shard_users(train["user_id"].astype(str).unique().tolist(), int(params.n_shards), int(params.shard),
                    params.max_users, int(params.seed))
segments, too_short = user_segments(train, settings.segment_size, settings.min_plays, users)
without_metadata = sum(1 for s in segments for t in s.tracks if not has_metadata[t])
teacher_settings = TeacherSettings.from_mapping(params.teacher)
print(f"shard {params.shard}/{params.n_shards}: {len(users)} users, {len(segments)} with >= "
      f"{settings.min_plays} train tracks; teacher {teacher_settings}", file=sys.stderr)

started = time.perf_counter()
with open_teacher(teacher_settings, params.cache, log=sys.stderr) as teacher:
    print(f"teacher ready at {teacher.base_url} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    positives, report = synthesize_positives(teacher, texts, segments, settings)
    stats = teacher.stats.as_dict()
report.update(stats, too_short_users=len(too_short), segment_tracks_without_metadata=without_metadata,
              seconds=time.perf_counter() - started, model=teacher.model_identity)
write_parquet(positives, snakemake.output.positives)  # noqa: F821
write_json(report, snakemake.output.stats)  # noqa: F821
print(report, file=sys.stderr)
