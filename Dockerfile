# kefu server image. Redis runs in its own container (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY kefu ./kefu
RUN pip install . && useradd --create-home --uid 10001 kefu
USER kefu

ENV KEFU_HOST=0.0.0.0 KEFU_PORT=8080 KEFU_DATA_DIR=/home/kefu/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["kefu", "serve"]
