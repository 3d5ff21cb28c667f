# syntax=docker/dockerfile:1
# raftd image: build on Debian bookworm with the project's own dependency script, run on a slim
# bookworm with only the shared libraries raftd needs.
#
#   docker build -t raftd .
#   docker run -p 7001:7001 -v raftd-data:/var/lib/raftd raftd
#   redis-cli -p 7001 PING
# Flags after the image name replace the default command, e.g.
#   docker run raftd -a 0.0.0.0:7001 -d /var/lib/raftd -i 2 -e 1/n1:7001,2/n2:7001,3/n3:7001

FROM debian:bookworm AS build
WORKDIR /src
# Dependencies first, so editing sources does not invalidate this layer.
COPY tools/install-deps.sh tools/install-deps.sh
RUN bash tools/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAFTD_TESTS=OFF \
 && cmake --build /build --target raftd -j"$(nproc)" \
 && strip /build/bin/raftd \
 && /build/bin/raftd --version

FROM debian:bookworm-slim AS runtime
# The shared libraries raftd links (librocksdb for the Raft log store, libssl3 for libcrypto).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libboost-program-options1.74.0 libfmt9 librocksdb7.8 libssl3 libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/raftd --shell /usr/sbin/nologin raftd \
 && mkdir -p /var/lib/raftd /etc/raftd \
 && chown raftd:raftd /var/lib/raftd
COPY --from=build /build/bin/raftd /usr/local/bin/raftd
COPY conf/raftd.conf /etc/raftd/raftd.conf
USER raftd
VOLUME /var/lib/raftd
# Client port; Raft peers use the next one.
EXPOSE 7001 7002
# A PING over bash's /dev/tcp: the runtime image has no redis-cli.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7001 && printf 'PING\\r\\n' >&3 && read -r -t 2 reply <&3 && [[ $reply == +PONG* ]]"]
ENTRYPOINT ["/usr/local/bin/raftd"]
CMD ["--config", "/etc/raftd/raftd.conf", "-a", "0.0.0.0:7001", "-d", "/var/lib/raftd"]
