"""Every metric name quantop exports or relies on: the public surface dashboards and rules use.

Operator metrics are labelled `namespace` and `model` (the QuantizedModel's name, as on the TGI
series after relabeling), plus `quantization` and `revision` where a value belongs to one
revision. Durations are in seconds and ratios in 0..1, as Prometheus naming asks.
"""

from __future__ import annotations

PREFIX = "quantop_"

# --- exported by `quantop run` ------------------------------------------------------------------
BUILD_INFO = "quantop_build_info"  # gauge 1 {version}
MODEL_INFO = "quantop_model_info"  # gauge 1 {namespace, model, model_id, quantization, gpu, stable_revision}
MODEL_PHASE = "quantop_model_phase"  # gauge 1/0 per {namespace, model, phase}: enum style
STABLE_READY_REPLICAS = "quantop_stable_ready_replicas"  # gauge {namespace, model}
CANDIDATE_STARTED = "quantop_candidate_started_timestamp_seconds"  # gauge {namespace, model, revision}; absent if none

# Last validation results, per {namespace, model, quantization, revision, role} with role stable|candidate.
# `percentile`, not `quantile`: Prometheus reserves `quantile` for summaries.
VALIDATION_LATENCY = "quantop_validation_latency_seconds"  # + {percentile="50"|"95"|"98"|"99"}
VALIDATION_TTFT = "quantop_validation_ttft_seconds"  # + {percentile="95"}
VALIDATION_RPS = "quantop_validation_requests_per_second"
VALIDATION_TOKENS = "quantop_validation_output_tokens_per_second"
VALIDATION_ERROR_RATIO = "quantop_validation_error_ratio"
VALIDATION_ACCURACY = "quantop_validation_accuracy"
VALIDATION_ACCURACY_DROP = "quantop_validation_accuracy_drop"
VALIDATION_COST = "quantop_validation_cost_usd_per_million_tokens"
VALIDATION_SPEEDUP = "quantop_validation_speedup_ratio"  # baseline median / this median
VALIDATION_SIZE_REDUCTION = "quantop_validation_size_reduction_ratio"  # baseline weights / these weights
VALIDATION_PASSED = "quantop_validation_passed"  # 1 passed, 0 otherwise (failed, inconclusive, error)
# Enum style {verdict}: 1 for the validation's verdict (Passed, Failed, Inconclusive, Error), 0 for the others.
VALIDATION_VERDICT = "quantop_validation_verdict"
VALIDATION_TIMESTAMP = "quantop_validation_timestamp_seconds"

# Counters {namespace, model}; failed validations also {reason}: LoadTestFailed, AccuracyFailed, ValidationError, ...
PROMOTIONS = "quantop_promotions_total"
# Rollbacks also {reason}: Manual (annotation quantop.dev/rollback), or the production guard's breached
# signal GuardP95Latency | GuardErrorRatio | GuardAccuracy (monitoring/guard Breach.reason).
ROLLBACKS = "quantop_rollbacks_total"
ROLLBACK_REASON_MANUAL = "Manual"
VALIDATIONS_FAILED = "quantop_validations_failed_total"
RECONCILE_DURATION = "quantop_reconcile_duration_seconds"  # histogram
RECONCILE_ERRORS = "quantop_reconcile_errors_total"

# Each spec's thresholds, {namespace, model}: one alert rule compares every model with its own SLO.
SLO_P95 = "quantop_slo_p95_latency_seconds"
SLO_P99 = "quantop_slo_p99_latency_seconds"
SLO_TTFT_P95 = "quantop_slo_ttft_p95_seconds"
SLO_MIN_RPS = "quantop_slo_min_requests_per_second"
SLO_MAX_ERROR_RATIO = "quantop_slo_max_error_ratio"
ACCURACY_BASELINE = "quantop_accuracy_baseline"
ACCURACY_MAX_DROP = "quantop_accuracy_max_drop"

# Production guard, gauge 1/0 per {namespace, model, revision, state}, enum style, only while a revision is
# guarded: state Guarding | NoData (Prometheus answers, nothing for the revision) | Unreachable.
GUARD_STATE = "quantop_guard_state"
GUARD_STATES = ("Guarding", "NoData", "Unreachable")

# Production accuracy probe, {namespace, model, quantization, revision}.
PRODUCTION_ACCURACY = "quantop_production_accuracy"
PRODUCTION_ACCURACY_SAMPLES = "quantop_production_accuracy_samples"
PRODUCTION_PROBE_TIMESTAMP = "quantop_production_probe_timestamp_seconds"

# `method: auto` selections (status.selection). Per {namespace, model}: the phase, enum style (Running | Chosen |
# NoCandidatePassed | Refused), and GPU-seconds used (status says GPU-minutes; Prometheus wants base units).
# Per candidate {namespace, model, method, gpu} (gpu as the row's label: a10, a10x2): its state (1, with
# {state}), its measured figures, and 1 on the winner.
SELECTION_PHASE = "quantop_selection_phase"
SELECTION_PHASES = ("Running", "Chosen", "NoCandidatePassed", "Refused")
SELECTION_GPU_SECONDS = "quantop_selection_gpu_seconds"
SELECTION_CANDIDATE_STATE = "quantop_selection_candidate_state"  # + {state}
SELECTION_CANDIDATE_P95 = "quantop_selection_candidate_p95_seconds"
SELECTION_CANDIDATE_ACCURACY = "quantop_selection_candidate_accuracy"
SELECTION_CANDIDATE_TOKENS = "quantop_selection_candidate_output_tokens_per_second"
SELECTION_CANDIDATE_COST = "quantop_selection_candidate_cost_usd_per_million_tokens"
SELECTION_CANDIDATE_WEIGHTS = "quantop_selection_candidate_weights_bytes"
SELECTION_CANDIDATE_GPU_SECONDS = "quantop_selection_candidate_gpu_seconds"
SELECTION_WINNER = "quantop_selection_winner"

# --- scraped from TGI pods (relabeled with namespace, pod, model, quantization, revision, role, gpu) ---
TGI_REQUEST_DURATION = "tgi_request_duration"  # histogram, seconds
TGI_QUEUE_DURATION = "tgi_request_queue_duration"
TGI_TIME_PER_TOKEN = "tgi_request_mean_time_per_token_duration"
TGI_GENERATED_TOKENS = "tgi_request_generated_tokens"
TGI_INPUT_LENGTH = "tgi_request_input_length"
TGI_REQUEST_COUNT = "tgi_request_count"  # counter without _total, as TGI exports it
TGI_REQUEST_SUCCESS = "tgi_request_success"
TGI_REQUEST_FAILURE = "tgi_request_failure"  # {err}
TGI_QUEUE_SIZE = "tgi_queue_size"
TGI_BATCH_SIZE = "tgi_batch_current_size"
TGI_MAX_BATCH_TOTAL_TOKENS = "tgi_batch_max_total_tokens"

# --- scraped from vLLM pods (vllm/v1/metrics/loggers.py; relabeled as TGI's) ---------------------------
# prometheus_client exports a counter NAME as NAME_total; every vllm:* series carries model_name and
# engine (the engine core's index, "0"), both dropped by the recording rules' aggregation.
VLLM_E2E_LATENCY = "vllm:e2e_request_latency_seconds"  # histogram, seconds
VLLM_TTFT = "vllm:time_to_first_token_seconds"
VLLM_TIME_PER_OUTPUT_TOKEN = "vllm:request_time_per_output_token_seconds"  # each request's mean, first token excluded
VLLM_QUEUE_TIME = "vllm:request_queue_time_seconds"
VLLM_GENERATION_TOKENS = "vllm:generation_tokens_total"
VLLM_RUNNING = "vllm:num_requests_running"
VLLM_WAITING = "vllm:num_requests_waiting"
VLLM_KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"  # gauge 0..1 despite the name
# The OpenAI server's prometheus-fastapi-instrumentator: {handler, method, status="2xx"|"4xx"|"5xx"}.
VLLM_HTTP_REQUESTS = "http_requests_total"
VLLM_GENERATION_HANDLERS = "/v1/completions|/v1/chat/completions"
