# syntax=docker/dockerfile:1
# Multi-stage: compile the TypeScript once, ship only dist/ and the production dependencies.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY jobs ./jobs
COPY migrations ./migrations
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Without src/, bin/billing.js runs the compiled dist/. Files the commands write (export --out)
# go to /data, the working directory, which the unprivileged user owns.
RUN mkdir -p /data && chown node:node /data
ENV BILLING_DATA_DIR=/data
USER node
WORKDIR /data
EXPOSE 8080 9464
ENTRYPOINT ["node", "/app/bin/billing.js"]
CMD ["--help"]
