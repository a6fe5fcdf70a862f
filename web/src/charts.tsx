/**
 * @module web/charts
 * Charts (uPlot, loaded only with this view): stored size and duration of each backup per
 * source, the daily success rate, and repository growth. Each chart has a text summary.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { get, query, type Stats } from './api';
import { bytes, seconds } from './format';
import { useLoad } from './hooks';
import { Failure, SourceFilter } from './ui';

const COLORS = ['#1f6feb', '#d97706', '#16a34a', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777'];

interface ChartProps {
  title: string;
  summary: string;
  data: uPlot.AlignedData;
  series: string[];
  format: (v: number) => string;
  bars?: boolean;
  /** A fixed y range (percentages); default: fitted to the data. */
  yRange?: [number, number];
}

function Chart({ title, summary, data, series, format, bars, yRange }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const size = () => ({ width: Math.max(260, el.clientWidth), height: 220 });
    const plot = new uPlot(
      {
        ...size(),
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        series: [
          { label: 'time (UTC)' },
          ...series.map((label, i) => ({
            label,
            stroke: COLORS[i % COLORS.length],
            fill: bars ? `${COLORS[i % COLORS.length]}33` : undefined,
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
            paths: bars ? uPlot.paths.bars?.({ size: [0.6, 40] }) : undefined,
            value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)),
          })),
        ],
        axes: [{}, { size: 80, values: (_u, vals) => vals.map((v) => format(v)) }],
        scales: {
          x: { time: true, range: xRange(data[0] as number[], !!bars) },
          ...(yRange ? { y: { range: yRange } } : {}),
        },
      },
      data,
      el,
    );
    const onResize = () => plot.setSize(size());
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.destroy();
    };
  }, [data, series, format, bars, yRange]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${summary}`} />
      <p class="muted">{summary}</p>
    </figure>
  );
}

/** The data's time span; a single point, or bars, get half a day of margin (uPlot would span years). */
function xRange(xs: number[], bars: boolean): [number, number] | undefined {
  if (xs.length === 0) return undefined;
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const pad = bars || hi - lo < 3600 ? 43_200 : 0;
  return [lo - pad, hi + pad];
}

/** One x axis for every source: a row per backup time, null where a source has no point. */
function perSource(
  backups: Stats['backups'],
  value: (b: Stats['backups'][number]) => number,
): { data: uPlot.AlignedData; series: string[] } {
  const series = [...new Set(backups.map((b) => b.source))].sort();
  const xs = backups.map((b) => Date.parse(b.time) / 1000);
  const ys = series.map((s) => backups.map((b) => (b.source === s ? value(b) : null)));
  return { data: [xs, ...ys] as uPlot.AlignedData, series };
}

const PERCENT: [number, number] = [0, 100];

const SPANS: Record<string, number> = { '24 hours': 1, '7 days': 7, '30 days': 30, '365 days': 365 };

export function Charts() {
  const [source, setSource] = useState('');
  const [span, setSpan] = useState('30 days');
  const stats = useLoad(
    () =>
      get<Stats>(
        `/api/stats${query({ source, since: new Date(Date.now() - SPANS[span] * 86_400_000).toISOString() })}`,
      ),
    [source, span],
    () => 60_000,
  );
  const s = stats.data;
  const daily = s?.daily ?? [];
  const runs = daily.reduce((n, d) => n + d.succeeded + d.failed, 0);
  const ok = daily.reduce((n, d) => n + d.succeeded, 0);
  const stored = s && perSource(s.backups, (b) => b.bytes_added);
  const duration = s && perSource(s.backups, (b) => b.duration_ms / 1000);
  const read = s && perSource(s.backups, (b) => b.bytes_read);
  const lastGrowth = s?.growth.at(-1)?.bytes ?? 0;
  return (
    <section aria-labelledby="charts-h">
      <h1 id="charts-h">Charts</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Chart range">
        <SourceFilter value={source} onChange={setSource} />
        <label>
          Last
          <select value={span} onChange={(e) => setSpan(e.currentTarget.value)}>
            {Object.keys(SPANS).map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
      </form>
      <Failure error={stats.error} />
      {s && s.backups.length === 0 && <p>No backups in this range.</p>}
      {s && stored && duration && read && s.backups.length > 0 && (
        <div class="charts">
          <Chart
            title="Stored per backup (new data added to the repository)"
            summary={`${s.backups.length} backups; ${bytes(s.backups.reduce((n, b) => n + b.bytes_added, 0))} added in all`}
            data={stored.data}
            series={stored.series}
            format={bytes}
          />
          <Chart
            title="Size of each backup (bytes read from the source)"
            summary={`largest ${bytes(Math.max(...s.backups.map((b) => b.bytes_read)))}`}
            data={read.data}
            series={read.series}
            format={bytes}
          />
          <Chart
            title="Backup duration"
            summary={`longest ${seconds(Math.max(...s.backups.map((b) => b.duration_ms / 1000)))}`}
            data={duration.data}
            series={duration.series}
            format={(v) => seconds(v)}
          />
          <Chart
            title="Daily success rate"
            summary={
              runs
                ? `${ok} of ${runs} backup jobs succeeded (${((ok / runs) * 100).toFixed(0)}%)`
                : 'no finished backup jobs'
            }
            data={[
              daily.map((d) => Date.parse(`${d.day}T12:00:00Z`) / 1000),
              daily.map((d) => (d.succeeded / Math.max(1, d.succeeded + d.failed)) * 100),
            ]}
            series={['success %']}
            format={(v) => `${v.toFixed(0)}%`}
            bars
            yRange={PERCENT}
          />
          <Chart
            title="Repository growth (data added by the backups it holds)"
            summary={`${bytes(lastGrowth)} at the end of the range`}
            data={[s.growth.map((g) => Date.parse(g.time) / 1000), s.growth.map((g) => g.bytes)]}
            series={['repository']}
            format={bytes}
          />
        </div>
      )}
    </section>
  );
}
