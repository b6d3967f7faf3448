/* The application_name of a crash child's database sessions, shared by the child and its parent. */
export const crashSessionName = (pid: number) => `devenv-crash-child-${pid}`;
