/**
 * The Kubernetes manifests in deploy/kubernetes: every document validates against its
 * Kubernetes schema (kubernetes-models), and the set holds together: what a pod references
 * exists, selectors select, pods run real lifeboat commands, outlast the shutdown grace, and
 * the ConfigMap's lifeboat.yaml parses with Lifeboat's own parser in each pod's environment,
 * with every source's `${NAME}` set in the pods that run its jobs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig, parseDuration } from '../../src/config/config.js';
import { checkArgs, documentedText, ROOT } from '../helpers/deploy-commands.js';

const DIR = join(ROOT, 'deploy', 'kubernetes');

/** apiVersion/kind to its model; a kind not listed here is a test failure, not a skip. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
};

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as plain parsed YAML
type Doc = Record<string, any>;
interface Manifest {
  file: string;
  doc: Doc;
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const parsed of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      assert.deepEqual(parsed.errors, [], `${file}: YAML errors`);
      const doc = parsed.toJS() as Doc | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

const manifests = loadManifests();
const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind);
const workloads = () => manifests.filter((m) => m.doc.kind === 'Deployment' || m.doc.kind === 'DaemonSet');
const where = (m: Manifest) => `${m.file}: ${m.doc.kind} ${m.doc.metadata?.name}`;

/** The one ConfigMap's lifeboat.yaml. */
function configText(): string {
  const maps = byKind('ConfigMap');
  assert.equal(maps.length, 1, 'one ConfigMap');
  const text = maps[0].doc.data?.['lifeboat.yaml'];
  assert.equal(typeof text, 'string', 'the ConfigMap holds lifeboat.yaml');
  return text;
}

/** The variables a pod's container has: its env names and the keys of the Secrets it takes whole. */
function podEnv(m: Manifest): Map<string, string> {
  const env = new Map<string, string>();
  const secrets = new Map(byKind('Secret').map((s) => [s.doc.metadata.name, s.doc]));
  for (const c of m.doc.spec.template.spec.containers) {
    for (const e of c.env ?? []) env.set(e.name, e.value ?? `placeholder-${e.name.toLowerCase()}`);
    for (const from of c.envFrom ?? []) {
      const secret = from.secretRef ? secrets.get(from.secretRef.name) : undefined;
      for (const key of Object.keys({ ...secret?.stringData, ...secret?.data })) env.set(key, `placeholder`);
    }
  }
  // A real-looking URL where the config needs one.
  if (env.has('CATALOG_URL')) env.set('CATALOG_URL', 'postgres://lifeboat:pw@postgres.example:5432/lifeboat');
  return env;
}

/** `--labels k=v,...` of a worker's args; `$(VAR)` (the downward API) matches any value. */
function workerLabels(args: string[]): Map<string, string> {
  const i = args.indexOf('--labels');
  const labels = new Map<string, string>();
  if (i < 0) return labels;
  for (const pair of args[i + 1].split(',')) {
    const [k, v] = pair.split('=');
    labels.set(k, v);
  }
  return labels;
}

function runsOn(runsOnLabels: Record<string, string> | undefined, labels: Map<string, string>): boolean {
  return Object.entries(runsOnLabels ?? {}).every(([k, v]) => {
    const have = labels.get(k);
    return have === v || (have !== undefined && /^\$\([A-Z_]+\)$/.test(have));
  });
}

test('the manifests are namespace-less and each kind has a schema here', () => {
  assert.ok(manifests.length >= 6, `found ${manifests.length} documents in deploy/kubernetes`);
  const names = new Set<string>();
  for (const m of manifests) {
    assert.ok(MODELS[`${m.doc.apiVersion}/${m.doc.kind}`], `${where(m)}: no schema for ${m.doc.apiVersion}`);
    assert.equal(m.doc.metadata?.namespace, undefined, `${where(m)}: no namespace (kubectl -n chooses it)`);
    const key = `${m.doc.kind}/${m.doc.metadata?.name}`;
    assert.ok(!names.has(key), `${key} is defined twice`);
    names.add(key);
  }
});

test('every document validates against its Kubernetes schema', () => {
  for (const m of manifests) {
    const Model = MODELS[`${m.doc.apiVersion}/${m.doc.kind}`];
    assert.doesNotThrow(() => new Model(m.doc as never).validate(), where(m));
  }
});

test('every Secret and ConfigMap a pod uses is in the set, with the keys it names', () => {
  const has = (kind: string, name: string, key?: string) => {
    const d = byKind(kind).find((x) => x.doc.metadata.name === name)?.doc;
    if (!d) return false;
    return key === undefined || key in { ...d.data, ...d.stringData };
  };
  for (const m of workloads()) {
    const spec = m.doc.spec.template.spec;
    for (const c of spec.containers) {
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef;
        if (s)
          assert.ok(
            has('Secret', s.name, s.key),
            `${where(m)}: env ${e.name} needs Secret ${s.name} key ${s.key}`,
          );
        const cm = e.valueFrom?.configMapKeyRef;
        if (cm)
          assert.ok(
            has('ConfigMap', cm.name, cm.key),
            `${where(m)}: env ${e.name} needs ConfigMap ${cm.name}`,
          );
      }
      for (const from of c.envFrom ?? []) {
        if (from.secretRef)
          assert.ok(has('Secret', from.secretRef.name), `${where(m)}: Secret ${from.secretRef.name}`);
        if (from.configMapRef) {
          assert.ok(
            has('ConfigMap', from.configMapRef.name),
            `${where(m)}: ConfigMap ${from.configMapRef.name}`,
          );
        }
      }
      const volumes = new Set((spec.volumes ?? []).map((v: Doc) => v.name));
      for (const mount of c.volumeMounts ?? []) {
        assert.ok(volumes.has(mount.name), `${where(m)}: volume ${mount.name} is mounted but not defined`);
      }
    }
    for (const v of spec.volumes ?? []) {
      const kind = v.secret ? 'Secret' : v.configMap ? 'ConfigMap' : undefined;
      if (!kind) continue;
      const name = v.secret?.secretName ?? v.configMap?.name;
      const items: Doc[] = (v.secret ?? v.configMap).items ?? [];
      assert.ok(has(kind, name), `${where(m)}: volume ${v.name} needs ${kind} ${name}`);
      for (const item of items)
        assert.ok(has(kind, name, item.key), `${where(m)}: ${kind} ${name} key ${item.key}`);
    }
  }
});

test('selectors select the pod templates, and the Service selects the serve pods', () => {
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);
  for (const m of workloads()) {
    const selector = m.doc.spec.selector.matchLabels;
    assert.ok(selector && Object.keys(selector).length > 0, `${where(m)}: a selector`);
    assert.ok(
      matches(selector, m.doc.spec.template.metadata.labels),
      `${where(m)}: selector matches its pods`,
    );
  }
  for (const s of byKind('Service')) {
    const selected = workloads().filter((w) =>
      matches(s.doc.spec.selector, w.doc.spec.template.metadata.labels),
    );
    assert.ok(selected.length > 0, `${where(s)}: selects no pods`);
    for (const w of selected) {
      const container = w.doc.spec.template.spec.containers[0];
      assert.equal(container.args[0], 'serve', `${where(s)}: selects ${where(w)}, which does not serve`);
      const portNames = (container.ports ?? []).flatMap((p: Doc) => [p.name, p.containerPort]);
      for (const p of s.doc.spec.ports) {
        assert.ok(
          portNames.includes(p.targetPort ?? p.port),
          `${where(s)}: port ${p.targetPort} is not a container port`,
        );
      }
    }
  }
  // Workers with the same labels are interchangeable, serve instances are several: both scale.
  const serve = workloads().find((w) => w.doc.spec.template.spec.containers[0].args[0] === 'serve');
  assert.ok(
    serve && serve.doc.kind === 'Deployment' && serve.doc.spec.replicas >= 2,
    'two serve instances or more',
  );
});

test('pods run lifeboat serve or worker with flags the CLI takes and the docs document', () => {
  const docs = documentedText();
  for (const m of workloads()) {
    for (const c of m.doc.spec.template.spec.containers) {
      assert.ok(
        Array.isArray(c.args) && c.command === undefined,
        `${where(m)}: args only (the image's entrypoint is lifeboat)`,
      );
      assert.deepEqual(checkArgs(c.args, docs).problems, [], where(m));
    }
  }
});

test('pods are non-root or drop every capability, on a read-only root, and outlast the shutdown grace', () => {
  const config = parseYaml(configText());
  const grace = parseDuration(config.server?.shutdown_grace ?? '30s');
  for (const m of workloads()) {
    const spec = m.doc.spec.template.spec;
    assert.ok(
      (spec.terminationGracePeriodSeconds ?? 30) * 1000 > grace,
      `${where(m)}: grace above shutdown_grace`,
    );
    assert.equal(spec.automountServiceAccountToken, false, `${where(m)}: no API token in the pod`);
    for (const c of spec.containers) {
      const sc = c.securityContext ?? {};
      assert.equal(sc.allowPrivilegeEscalation, false, `${where(m)}: allowPrivilegeEscalation: false`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${where(m)}: readOnlyRootFilesystem`);
      assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where(m)}: drops every capability`);
      const nonRoot = sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
      if (nonRoot !== true) {
        // Root only to read files of any owner, with that one capability.
        assert.deepEqual(
          sc.capabilities?.add,
          ['DAC_READ_SEARCH'],
          `${where(m)}: root with DAC_READ_SEARCH only`,
        );
        for (const mount of c.volumeMounts ?? []) {
          const v = spec.volumes.find((x: Doc) => x.name === mount.name);
          if (v?.hostPath)
            assert.equal(mount.readOnly, true, `${where(m)}: host path ${v.hostPath.path} read-only`);
        }
      }
      assert.ok(c.resources?.requests && c.resources?.limits?.memory, `${where(m)}: resources`);
    }
  }
  const serve = workloads().find((w) => w.doc.spec.template.spec.containers[0].args[0] === 'serve')!;
  const c = serve.doc.spec.template.spec.containers[0];
  assert.equal(c.readinessProbe?.httpGet?.path, '/healthz', 'serve is ready when GET /healthz answers 200');
  assert.ok(c.livenessProbe, 'serve has a liveness probe');
});

test("the ConfigMap's lifeboat.yaml parses with Lifeboat's config parser in each pod's environment", () => {
  const text = configText();
  for (const m of workloads()) {
    const env = podEnv(m);
    const config = parseConfig(text, '/etc/lifeboat/lifeboat.yaml', Object.fromEntries(env));
    assert.ok(config.server?.catalog?.startsWith('postgres://'), `${where(m)}: a PostgreSQL catalog`);
    // The password file the config names is the one the pod mounts.
    const c = m.doc.spec.template.spec.containers[0];
    const passwordFile = env.get('LIFEBOAT_PASSWORD_FILE') ?? config.repository?.password_file;
    assert.ok(
      (c.volumeMounts ?? []).some((v: Doc) => passwordFile?.startsWith(`${v.mountPath}/`)),
      `${where(m)}: the repository password file ${passwordFile} is mounted`,
    );
  }
});

test('a pod holds the credentials of the sources it runs, and a worker no other source credentials', () => {
  const raw = parseYaml(configText());
  const sources = Object.entries<Doc>(raw.sources ?? {});
  const variables = (value: unknown) =>
    new Set([...JSON.stringify(value).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((x) => x[1]));
  const sourceVariables = new Set(sources.flatMap(([, s]) => [...variables(s)]));
  for (const m of workloads()) {
    const args: string[] = m.doc.spec.template.spec.containers[0].args;
    // A serve instance's labels come from server.labels; a worker's from --labels.
    const labels =
      args[0] === 'serve' ? new Map(Object.entries<string>(raw.server?.labels ?? {})) : workerLabels(args);
    const env = podEnv(m);
    const runs = sources.filter(([, s]) => runsOn(s.runs_on, labels));
    const needed = new Set(runs.flatMap(([, s]) => [...variables(s)]));
    for (const name of needed)
      assert.ok(env.has(name), `${where(m)}: runs a source that uses \${${name}}, unset here`);
    for (const name of env.keys()) {
      if (sourceVariables.has(name)) {
        assert.ok(needed.has(name), `${where(m)}: holds ${name}, which only sources it never runs use`);
      }
    }
  }
  // Every source with runs_on has a pod to run it.
  for (const [name, s] of sources) {
    const runners = workloads().filter((m) => {
      const args: string[] = m.doc.spec.template.spec.containers[0].args;
      return args[0] === 'worker' && runsOn(s.runs_on, workerLabels(args));
    });
    assert.ok(runners.length > 0, `source ${name}: no worker carries its runs_on labels`);
  }
});
