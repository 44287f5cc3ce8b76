# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/ser-classic

# Inputs and output roots. `make run` writes only under REPORTS, STORE and WORK (and the
# manifest and the feature cache); experiments/check_reproducible.py points them at scratch
# copies to run the main job twice and compare. JOBS: worker processes of every step.
DATA ?= $(or $(SER_CLASSIC_DATA),../shared/data)
MANIFEST ?= data/manifest.csv
CACHE ?= $(or $(SER_CLASSIC_CACHE),.cache/features)
REPORTS ?= reports
STORE ?= ser_classic/shipped
WORK ?= .cache/models
JOBS ?= 2
DM = --data $(DATA) --manifest $(MANIFEST)
IO = $(DM) --cache $(CACHE) --jobs $(JOBS)

.PHONY: run reproduce test lint data features evaluate-selected deploy-selected loco-selected \
	evaluate deploy optimize seven benchmarks cheaper loco conditions clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when pyproject.toml changes (quick when already installed).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

# The main job end to end on the default data (about 17-22 min on 2 cores from a clean
# clone): manifest and features of RAVDESS, TESS and EMOVO; speaker-grouped CV of the
# selected model family (the teachers' registry model) with CIs; its leave-one-corpus-out
# evaluation; the teachers (strict and speaker-normalised), their compact students, the
# TESS A/Bs that decide the deployed models, and their registration in the model store.
# It retrains only those models; a second run on the same inputs rewrites its reports and
# models identically apart from timing fields (experiments/check_reproducible.py).
run: $(STAMP) data features evaluate-selected deploy-selected loco-selected

# Everything: every model and feature set compared, the family A/Bs, every student, the
# 7-emotion models, the benchmarks, cheaper students, recording conditions, LOCO (hours).
reproduce: $(STAMP) data features evaluate deploy optimize seven loco conditions cheaper \
	benchmarks evaluate-selected loco-selected

HOLDOUT := ravdess_21,ravdess_22,ravdess_23,ravdess_24
TESS := $(DATA)/tess
RAVDESS := $(DATA)/ravdess

data: $(STAMP)
	$(CLI) data scan $(DM)
	$(CLI) data stats $(DM) --out $(REPORTS)/data

features: $(STAMP)
	$(CLI) features $(IO)

# The selected model family: the registry model of the stored teacher (decided by
# `make reproduce`: the CV's selection and the TESS A/B of its winner and runner-up). Its
# tuned parameters come from the selection file of that CV, $(REPORTS)/cv/selection.json.
FAMILY ?= $(shell $(BIN)/python -c "from ser_classic import store; \
	i = store.read_index('$(STORE)'); print(i.models[i.aliases['teacher'].model].name)")
SELECTION := $(REPORTS)/cv/selection.json

# Speaker-grouped CV (6 folds of 4 actors, inner tuning, speaker-bootstrap CIs) of the
# selected family and its members, strict and speaker-normalised -> reports/cv_selected
# (the 24-fold leave-one-speaker-out CV of every model is reports/cv, `make reproduce`;
# CV_SPLIT=loso runs the family's part of it, on the same folds and seeds, about 4 times as
# long; 6 folds of 4 actors tune logreg's C differently inside the speaker-normalised family)
CV_SPLIT ?= group6
evaluate-selected: $(STAMP)
	$(CLI) evaluate $(IO) --split $(CV_SPLIT) --models $(FAMILY) --feature-sets '' \
		--out $(REPORTS)/cv_selected

# Leave one corpus out (RAVDESS, TESS, EMOVO), the family's members as the candidates
# -> reports/loco_selected (every candidate: reports/loco, `make loco`)
loco-selected: $(STAMP)
	$(BIN)/python experiments/loco.py --models $(FAMILY) --manifest $(MANIFEST) \
		--data $(DATA) --cache $(CACHE) --jobs $(JOBS) --out $(REPORTS)/loco_selected

# $(1) alias suffix ("" or -speaker_norm), $(2) normalisation, $(3) report suffix: the
# teacher (the family, the selection's parameters), its two compact int8 students, and
# the two TESS A/Bs that decide the deployed model (each keeps A, the incumbent, unless B
# wins on quality or, tied on quality, on speed): teacher vs compact student, then that
# winner vs the faster compact student; all stored under their aliases
define DEPLOY_SELECTED
	$(CLI) train $(IO) --model $(FAMILY) --normalization $(2) --selection $(SELECTION) \
		--out $(WORK)/teacher$(1)
	$(CLI) distill $(IO) --teacher $(WORK)/teacher$(1) --student compact_int8 \
		--out $(WORK)/optimized-compact$(1)
	$(CLI) distill $(IO) --teacher $(WORK)/teacher$(1) --student compact_fast_int8 \
		--out $(WORK)/optimized-compact-fast$(1)
	$(CLI) ab --a $(WORK)/teacher$(1) --b $(WORK)/optimized-compact$(1) --data $(TESS) \
		--out $(REPORTS)/ab/teacher_vs_compact$(3) --deploy-to $(WORK)/deployed$(1)
	$(CLI) ab --a $(WORK)/deployed$(1) --b $(WORK)/optimized-compact-fast$(1) \
		--data $(TESS) --out $(REPORTS)/ab/deployed_vs_compact_fast$(3)
	$(ADD) $(WORK)/teacher$(1) --alias teacher$(1) --role teacher \
		--report $(REPORTS)/ab/tess$(3) \
		--figures-from $(REPORTS)/optimization$(3),$(REPORTS)/ab/teacher_vs_compact$(3)
	$(ADD) $(WORK)/optimized-compact$(1) --alias optimized-compact$(1) --role student \
		--report $(REPORTS)/ab/teacher_vs_compact$(3) --figures-from $(REPORTS)/optimization$(3)
	$(ADD) --report $(REPORTS)/ab/teacher_vs_compact$(3) --alias deployed$(1) --role deployed
	$(ADD) $(WORK)/optimized-compact-fast$(1) --alias optimized-compact-fast$(1) \
		--role student --report $(REPORTS)/ab/deployed_vs_compact_fast$(3) \
		--figures-from $(REPORTS)/optimization$(3)
	$(ADD) --report $(REPORTS)/ab/deployed_vs_compact_fast$(3) --alias deployed$(1) \
		--role deployed
endef

deploy-selected: $(STAMP)
	$(call DEPLOY_SELECTED,,strict,)
	$(call DEPLOY_SELECTED,-speaker_norm,speaker_norm,_speaker_norm)

# Speaker-grouped CV of every registry model, both normalisations, selection -> reports/cv;
# the augmentation ablation on the same folds -> reports/cv (VTLP) and reports/cv_augment
evaluate: $(STAMP)
	$(CLI) evaluate --ablation vtlp --ablation-model ridge
	$(CLI) evaluate --split group6 --models ridge,logreg,linear --augment none \
		--ablation vtlp,masks,seed --ablation-model ridge --feature-sets '' \
		--out reports/cv_augment

# The shipped models are stored once each in the package's model store, under aliases
# (`ser-classic models` lists them); each target below trains or distils into .cache/models
# and registers what it decides with `models add` (aliases as `--model`/`--a` work anywhere;
# they name the shipped store's models, so the targets below `make run`'s write there).
ADD = $(CLI) models --store $(STORE) add
OPT := reports/optimization
OPT_SN := reports/optimization_speaker_norm

# CV winner vs runner-up on TESS (strict and speaker-normalised) and on held-out RAVDESS
# actors; the A/B winners are the teachers (aliases teacher and teacher-speaker_norm).
deploy: $(STAMP)
	$(CLI) train --model @selected --out .cache/models/strict/A
	$(CLI) train --model @runner_up --out .cache/models/strict/B
	$(CLI) ab --a .cache/models/strict/A --b .cache/models/strict/B --data $(TESS) \
		--out reports/ab/tess
	$(ADD) --report reports/ab/tess --alias teacher --role teacher
	$(CLI) train --model @selected --normalization speaker_norm --out .cache/models/speaker_norm/A
	$(CLI) train --model @runner_up --normalization speaker_norm --out .cache/models/speaker_norm/B
	$(CLI) ab --a .cache/models/speaker_norm/A --b .cache/models/speaker_norm/B \
		--data $(TESS) --out reports/ab/tess_speaker_norm
	$(ADD) --report reports/ab/tess_speaker_norm --alias teacher-speaker_norm --role teacher
	$(CLI) train --model @selected --exclude-speakers $(HOLDOUT) --out .cache/models/holdout/A
	$(CLI) train --model @runner_up --exclude-speakers $(HOLDOUT) --out .cache/models/holdout/B
	$(CLI) ab --a .cache/models/holdout/A --b .cache/models/holdout/B --data $(RAVDESS) \
		--speakers $(HOLDOUT) --out reports/ab/ravdess_holdout

# Distil each teacher into a student reading only cheap features (fast) and compact ones
# (small: 340 inputs, int8), quantize them, benchmark every variant against its teacher on
# held-out RAVDESS speakers, and A/B the students against their teacher on TESS. Two compact
# students per teacher: one reads every group but the extended descriptors, the other also
# skips the spectral-shape group (about a quarter of the compact student's extraction time),
# for the discriminator's 200 clips/s. The deployed models (aliases deployed,
# deployed-speaker_norm) are decided by two A/Bs, each keeping A (the incumbent) unless B
# wins on quality or, tied on quality, on speed: teacher vs compact student, then that
# winner vs the faster compact student. Each student is stored with its A/B and its
# held-out figures (reports/optimization*).
optimize: $(STAMP)
	$(CLI) distill --teacher teacher --out .cache/models/optimized
	$(CLI) distill --teacher teacher --student compact_int8 \
		--out .cache/models/optimized-compact
	$(CLI) distill --teacher teacher-speaker_norm --student compact_int8 \
		--out .cache/models/optimized-compact-speaker_norm
	$(CLI) distill --teacher teacher --student compact_fast_int8 \
		--out .cache/models/optimized-compact-fast
	$(CLI) distill --teacher teacher-speaker_norm --student compact_fast_int8 \
		--out .cache/models/optimized-compact-fast-speaker_norm
	$(BIN)/python experiments/bench_optimization.py --teacher teacher
	$(BIN)/python experiments/bench_optimization.py --teacher teacher-speaker_norm \
		--out $(OPT_SN) --work .cache/optimization_speaker_norm
	$(ADD) teacher --alias teacher --role teacher --report reports/ab/tess --figures-from $(OPT)
	$(ADD) teacher-speaker_norm --alias teacher-speaker_norm --role teacher \
		--report reports/ab/tess_speaker_norm --figures-from $(OPT_SN)
	$(CLI) ab --a teacher --b .cache/models/optimized --data $(TESS) \
		--out reports/ab/teacher_vs_optimized
	$(ADD) .cache/models/optimized --alias optimized --role student \
		--report reports/ab/teacher_vs_optimized --figures-from $(OPT)
	$(CLI) ab --a teacher --b .cache/models/optimized-compact --data $(TESS) \
		--out reports/ab/teacher_vs_compact
	$(ADD) .cache/models/optimized-compact --alias optimized-compact --role student \
		--report reports/ab/teacher_vs_compact --figures-from $(OPT)
	$(ADD) --report reports/ab/teacher_vs_compact --alias deployed --role deployed
	$(CLI) ab --a teacher-speaker_norm --b .cache/models/optimized-compact-speaker_norm \
		--data $(TESS) --out reports/ab/teacher_vs_compact_speaker_norm
	$(ADD) .cache/models/optimized-compact-speaker_norm \
		--alias optimized-compact-speaker_norm --role student \
		--report reports/ab/teacher_vs_compact_speaker_norm --figures-from $(OPT_SN)
	$(ADD) --report reports/ab/teacher_vs_compact_speaker_norm --alias deployed-speaker_norm \
		--role deployed
	$(CLI) ab --a deployed --b .cache/models/optimized-compact-fast --data $(TESS) \
		--out reports/ab/deployed_vs_compact_fast
	$(ADD) .cache/models/optimized-compact-fast --alias optimized-compact-fast --role student \
		--report reports/ab/deployed_vs_compact_fast --figures-from $(OPT)
	$(ADD) --report reports/ab/deployed_vs_compact_fast --alias deployed --role deployed
	$(CLI) ab --a deployed-speaker_norm --b .cache/models/optimized-compact-fast-speaker_norm \
		--data $(TESS) --out reports/ab/deployed_vs_compact_fast_speaker_norm
	$(ADD) .cache/models/optimized-compact-fast-speaker_norm \
		--alias optimized-compact-fast-speaker_norm --role student \
		--report reports/ab/deployed_vs_compact_fast_speaker_norm --figures-from $(OPT_SN)
	$(ADD) --report reports/ab/deployed_vs_compact_fast_speaker_norm \
		--alias deployed-speaker_norm --role deployed

# The 7 emotions RAVDESS shares with TESS (calm left out of training), for targets among
# them: each teacher's registry model and parameters, trained without calm, and its compact
# student; the deployed 7-emotion models are decided as the 8-emotion ones (teacher vs
# compact student on TESS). Then each 8-emotion deployed model against its 7-emotion
# counterpart on TESS (a report, not a deployment: the label sets differ), and, to separate
# new speakers from the new corpus, the compact students of 8- and 7-emotion teachers
# trained without actors 21-24 on those actors' clips of the 7 emotions. Last, the
# related-work report, which quotes the A/B winners.
# $(1) normalization, $(2) its teacher: compact students of 8- and 7-emotion teachers trained
# without the held-out actors, A/B-tested on those actors' clips of the 7 emotions
define HOLDOUT7
	$(CLI) train --model $(2) --normalization $(1) --exclude-speakers $(HOLDOUT) \
		--out .cache/models/holdout7/$(1)/teacher8
	$(CLI) train --model $(2) --normalization $(1) --exclude-speakers $(HOLDOUT) \
		--exclude-emotions calm --out .cache/models/holdout7/$(1)/teacher7
	$(CLI) distill --teacher .cache/models/holdout7/$(1)/teacher8 --student compact_int8 \
		--out .cache/models/holdout7/$(1)/compact8
	$(CLI) distill --teacher .cache/models/holdout7/$(1)/teacher7 --student compact_int8 \
		--out .cache/models/holdout7/$(1)/compact7
	$(CLI) ab --a .cache/models/holdout7/$(1)/compact8 \
		--b .cache/models/holdout7/$(1)/compact7 --data $(RAVDESS) --speakers $(HOLDOUT) \
		--exclude-emotions calm --out reports/ab/7emotions/ravdess_holdout_$(1)
endef

# $(1) suffix of the aliases ("" or -speaker_norm), $(2) normalization: the 7-emotion teacher
# and its compact student, their TESS A/B, both stored, the winner as deployed-7emotions$(1)
define SEVEN
	$(CLI) train --model teacher$(1) --normalization $(2) --exclude-emotions calm \
		--out .cache/models/teacher-7emotions$(1)
	$(CLI) distill --teacher .cache/models/teacher-7emotions$(1) --student compact_int8 \
		--out .cache/models/optimized-compact-7emotions$(1)
	$(CLI) ab --a .cache/models/teacher-7emotions$(1) \
		--b .cache/models/optimized-compact-7emotions$(1) --data $(TESS) \
		--out reports/ab/7emotions/teacher_vs_compact$(subst -,_,$(1))
	$(ADD) .cache/models/teacher-7emotions$(1) --alias teacher-7emotions$(1) --role teacher \
		--parent teacher$(1) --report reports/ab/7emotions/teacher_vs_compact$(subst -,_,$(1))
	$(ADD) .cache/models/optimized-compact-7emotions$(1) \
		--alias optimized-compact-7emotions$(1) --role student \
		--report reports/ab/7emotions/teacher_vs_compact$(subst -,_,$(1))
	$(ADD) --report reports/ab/7emotions/teacher_vs_compact$(subst -,_,$(1)) \
		--alias deployed-7emotions$(1) --role deployed
endef

seven: $(STAMP)
	$(call SEVEN,,strict)
	$(call SEVEN,-speaker_norm,speaker_norm)
	$(CLI) ab --a deployed --b deployed-7emotions --data $(TESS) \
		--out reports/ab/7emotions/deployed_vs_7emotions
	$(CLI) ab --a deployed-speaker_norm --b deployed-7emotions-speaker_norm \
		--data $(TESS) --out reports/ab/7emotions/deployed_vs_7emotions_speaker_norm
	$(call HOLDOUT7,strict,teacher)
	$(call HOLDOUT7,speaker_norm,teacher-speaker_norm)
	$(BIN)/python experiments/related_work.py

benchmarks: $(STAMP)
	$(BIN)/python experiments/bench_features.py
	$(BIN)/python experiments/bench_discriminator.py --model models/deployed models/teacher \
		models/optimized-compact-fast models/optimized models/deployed-speaker_norm \
		models/deployed-7emotions-speaker_norm --clips 128 --repeat 3

# What speed costs on a new corpus: students made cheaper than the deployed ones (fewer
# descriptor groups, a shorter FFT or a longer hop), each A/B-tested against the deployed
# model of its normalisation on TESS (about 35 min; nothing is deployed from here)
# -> reports/ab/cheaper/
cheaper: $(STAMP)
	$(BIN)/python experiments/cheaper_students.py

# Leave one corpus out (RAVDESS, TESS, EMOVO): model family and parameters chosen by
# speaker-grouped inner CV on the other corpora, strict and speaker-normalised
# -> reports/loco/; the same with corpus-grouped inner CV -> reports/loco/inner_corpus/
# (about 5 + 6 min on 2 cores; `make reproduce`, not `run`: its family, loco-selected)
loco: $(STAMP)
	$(BIN)/python experiments/loco.py
	$(BIN)/python experiments/loco.py --inner corpus --out reports/loco/inner_corpus

# Recording conditions (measurement only): invariance of every committed model on 40 clips
# of actors 21-24 (gain, noise floor, PCM16, input rate, padding, DC offset), and a teacher
# and compact student per normalisation trained without actors 21-24 scored on their clips
# under noise, telephone band, codecs, reverberation, Griffin-Lim and gain
# -> reports/conditions/ (`make reproduce`, not `run`)
conditions: $(STAMP)
	$(BIN)/python experiments/bench_conditions.py

clean-cache:
	rm -rf .cache
