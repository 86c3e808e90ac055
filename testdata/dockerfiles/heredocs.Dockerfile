FROM alpine
ARG GREETING=hello
RUN <<EOF
set -e
echo "$GREETING" > /greeting
EOF
COPY <<config.ini <<-'script.sh' /etc/app/
[app]
greeting=${GREETING}
config.ini
	#!/bin/sh
	echo $GREETING
	script.sh
RUN cat <<A >/a && cat <<B >/b
first
A
second
B
