#!/usr/bin/env bash
# Upscale one long video on a Slurm cluster: an array job, one task per chunk, then a
# dependent join. Slurm sets SLURM_ARRAY_TASK_ID (0..N-1 with --array=0-(N-1)); `--chunk
# auto/N` reads it. WORK must be a folder every node sees (NFS, Lustre).
# Usage: sbatch packaging/slurm/upscale-array.sh   (edit N, WORK, INPUT below or export them)
#SBATCH --job-name=stronglive-chunks
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=12:00:00
set -euo pipefail
N="${N:-8}"
WORK="${WORK:-$HOME/stronglive-work}"
INPUT="${INPUT:-$WORK/input.mp4}"
mkdir -p "$WORK/parts"
stronglive upscale "$INPUT" --chunk "auto/$N" -o "$WORK/parts/part-$SLURM_ARRAY_TASK_ID.mp4" --overwrite
# The last task to finish is not known here: the join is a separate job that waits for the
# whole array, submitted once by task 0.
if [ "$SLURM_ARRAY_TASK_ID" = 0 ]; then
    sbatch --dependency="afterok:$SLURM_ARRAY_JOB_ID" --job-name=stronglive-concat \
        --wrap "stronglive concat $(seq -f "$WORK/parts/part-%g.mp4" -s ' ' 0 $((N - 1))) -o $WORK/output_x4.mp4 --source $INPUT --overwrite"
fi
