/*
 * The local stack's demo fleet, as data: reservations at every stage and labs stuck in ENDING,
 * with the pods, volumes and lab resources a real cluster would have for them. Times are relative
 * to the moment the stack starts, so the demo always has something due in the next minutes.
 */
export interface DemoReservation {
  id: string;
  userId: string;
  status: 'queued' | 'pending' | 'preparing' | 'active';
  /** Minutes from now; negative is in the past. */
  expiresInMinutes: number | null;
  statusChangedMinutesAgo: number;
  pod: 'running' | 'oom-killed' | 'missing' | 'none';
  diskName?: string;
  volumeId?: string;
  story: string;
}

export interface DemoLab {
  id: string;
  ownerId: string;
  status: 'ready' | 'ending';
  statusChangedMinutesAgo: number;
  resources: number;
  novncPort: number;
  story: string;
}

export const DEMO_NAMESPACE = 'gpu-dev';
export const DEMO_LAB_NAMESPACE = 'octolab-labs';

const id = (n: number) => `demo${String(n).padStart(4, '0')}-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * The reservation whose whole story the demo shows an operator (`why <id>`): warned at start, then
 * expired, torn down and its disk snapshotted within a quarter of an hour, on the stack.yml schedules.
 */
export const DEMO_STORY_RESERVATION_ID = id(1);

export const demoReservations: DemoReservation[] = [
  {
    id: id(1),
    userId: 'ada@example.com',
    status: 'active',
    expiresInMinutes: 4,
    statusChangedMinutesAgo: 236,
    pod: 'running',
    diskName: 'ada-home',
    volumeId: 'vol-0a1b2c3d4e5f60001',
    story: 'expires in 4 minutes: gets the 5-minute warning, then expires, is torn down and its disk snapshotted',
  },
  {
    id: id(2),
    userId: 'grace@example.com',
    status: 'active',
    expiresInMinutes: 14,
    statusChangedMinutesAgo: 106,
    pod: 'running',
    story: 'expires in 14 minutes: gets the 15-minute warning',
  },
  {
    id: id(3),
    userId: 'linus@example.com',
    status: 'active',
    expiresInMinutes: 29,
    statusChangedMinutesAgo: 91,
    pod: 'running',
    story: 'expires in 29 minutes: gets the 30-minute warning',
  },
  {
    id: id(4),
    userId: 'ken@example.com',
    status: 'active',
    expiresInMinutes: -10,
    statusChangedMinutesAgo: 250,
    pod: 'running',
    diskName: 'ken-home',
    volumeId: 'vol-0a1b2c3d4e5f60004',
    story: 'expired 10 minutes ago: expire ends it, then teardown and a shutdown snapshot follow',
  },
  {
    id: id(5),
    userId: 'barbara@example.com',
    status: 'active',
    expiresInMinutes: 180,
    statusChangedMinutesAgo: 60,
    pod: 'oom-killed',
    story: 'its main container was OOM-killed and restarted: recorded once, not expired',
  },
  {
    id: id(6),
    userId: 'dennis@example.com',
    status: 'preparing',
    expiresInMinutes: null,
    statusChangedMinutesAgo: 75,
    pod: 'none',
    story: 'stuck in preparing for 75 minutes: failed',
  },
  {
    id: id(7),
    userId: 'margaret@example.com',
    status: 'queued',
    expiresInMinutes: null,
    statusChangedMinutesAgo: 50 * 60,
    pod: 'none',
    story: 'queued for 50 hours: cancelled as stale',
  },
  {
    id: id(8),
    userId: 'edsger@example.com',
    status: 'active',
    expiresInMinutes: 240,
    statusChangedMinutesAgo: 120,
    pod: 'missing',
    story: 'its pod was deleted behind our back: expired after two 404s a minute apart',
  },
  {
    id: id(9),
    userId: 'frances@example.com',
    status: 'active',
    expiresInMinutes: 360,
    statusChangedMinutesAgo: 30,
    pod: 'running',
    diskName: 'frances-home',
    volumeId: 'vol-0a1b2c3d4e5f60009',
    story: 'healthy, six hours left: nothing happens',
  },
];

export const demoLabs: DemoLab[] = [
  {
    id: '1ab00000-0000-4000-8000-000000000001',
    ownerId: '0c0ffee0-0000-4000-8000-00000000a001',
    status: 'ending',
    statusChangedMinutesAgo: 45,
    resources: 3,
    novncPort: 6081,
    story: 'in ENDING for 45 minutes: force-finished by the watchdog',
  },
  {
    id: '1ab00000-0000-4000-8000-000000000002',
    ownerId: '0c0ffee0-0000-4000-8000-00000000a002',
    status: 'ending',
    statusChangedMinutesAgo: 38,
    resources: 2,
    novncPort: 6082,
    story: 'in ENDING for 38 minutes: force-finished by the watchdog',
  },
  {
    id: '1ab00000-0000-4000-8000-000000000003',
    ownerId: '0c0ffee0-0000-4000-8000-00000000a003',
    status: 'ending',
    statusChangedMinutesAgo: 5,
    resources: 2,
    novncPort: 6083,
    story: 'in ENDING for 5 minutes: left to the normal teardown',
  },
  {
    id: '1ab00000-0000-4000-8000-000000000004',
    ownerId: '0c0ffee0-0000-4000-8000-00000000a004',
    status: 'ready',
    statusChangedMinutesAgo: 20,
    resources: 2,
    novncPort: 6084,
    story: 'running: untouched',
  },
];

export function podNameFor(reservationId: string): string {
  return `gpu-dev-${reservationId.slice(0, 8)}`;
}
