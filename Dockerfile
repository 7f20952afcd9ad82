# One image for every Spindle process of docker-compose.yml: the `spindle` command (meta, storage,
# mount, client commands) and Debian's etcd-server. Built from this checkout:
#   docker build -t spindle:local .
FROM node:20-bookworm
# etcd for the metadata; fuse3 + headers and compilers for the FUSE addon of `spindle mount`;
# liburing for the io_uring block I/O of storage nodes (optional: storage falls back to node:fs).
RUN apt-get update \
  && apt-get install -y --no-install-recommends \
    etcd-server fuse3 libfuse3-dev liburing-dev pkg-config g++ make python3 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/spindle
COPY . .
# npm ci builds dist/ (the prepare script); the addons are built against this image's Node.
RUN npm ci \
  && (cd native/fuse && ../../node_modules/.bin/node-gyp rebuild --loglevel=warn) \
  && (cd native/uring && ../../node_modules/.bin/node-gyp rebuild --loglevel=warn || true) \
  && (cd native/crc32c && ../../node_modules/.bin/node-gyp rebuild --loglevel=warn || true) \
  && ln -s /opt/spindle/bin/spindle.mjs /usr/local/bin/spindle \
  && mkdir -p /mnt/spindle
# 7400 meta gRPC, 9400 meta metrics; 7500/7600/9500 a storage node's gRPC, bulk and metrics ports.
EXPOSE 7400 9400 7500 7600 9500
CMD ["spindle", "--help"]
