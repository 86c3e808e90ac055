FROM busybox
LABEL org.opencontainers.image.title="demo" version=1
ENV APP_HOME=/srv/app \
    PORT=8080
WORKDIR $APP_HOME
# a comment inside nothing
VOLUME ["/data"]
EXPOSE ${PORT}/tcp 9000-9001/udp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD wget -qO- http://localhost:${PORT}/health || exit 1
SHELL ["/bin/sh", "-eu", "-c"]
ONBUILD COPY . /srv/app/src
CMD exec ./run --port "$PORT"
