FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rtserver ./rtserver
COPY static ./static
RUN pip install --no-cache-dir . && useradd --create-home rt && mkdir /data && chown rt /data
USER rt
ENV RTSERVER_HOST=0.0.0.0 RTSERVER_PORT=8080 RTSERVER_STORE=sqlite:/data/rtserver.db \
    RTSERVER_SECRET_FILE=/data/rtserver.secret
VOLUME /data
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz')" || exit 1
CMD ["rtserver", "serve"]
