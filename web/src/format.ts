/**
 * @module web/format
 * Numbers, sizes, times and durations as the dashboard shows them (times in UTC, as the CLI).
 */

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '–';
  return `${iso.slice(0, 19).replace('T', ' ')} UTC`;
}

export function ratio(read: number | null, stored: number | null): string {
  if (!read || stored === null) return '–';
  if (stored === 0) return '∞';
  const r = read / stored;
  return `${r.toFixed(r >= 10 ? 0 : r >= 1 ? 1 : 2)}×`;
}

export function short(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '–';
}
