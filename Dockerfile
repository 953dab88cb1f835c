# The stream-filter worker: slim, non-root, healthcheck on its web port.
# Dependencies come from the lock (requirements/worker.txt: exact versions, hashes checked); the
# project is then installed on top without resolving anything again.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/worker.txt ./requirements/worker.txt
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes --prefix=/install \
      -r requirements/worker.txt
COPY pyproject.toml README.md ./
COPY stream_filter ./stream_filter
RUN PYTHONPATH=/install/lib/python3.11/site-packages pip install --no-cache-dir --disable-pip-version-check \
      --no-deps --no-build-isolation --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 streamfilter
COPY --from=build /install /usr/local
USER 10001
WORKDIR /home/streamfilter
ENV STREAM_FILTER_WEB_HOST=0.0.0.0 \
    STREAM_FILTER_WEB_PORT=6066 \
    STREAM_FILTER_DATA_DIR=/home/streamfilter/state
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=2); sys.exit(0)"]
ENTRYPOINT ["stream-filter"]
CMD ["worker"]
