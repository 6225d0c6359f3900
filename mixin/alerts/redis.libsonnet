// Redis runtime persistence: saves and AOF writes failing, unsaved writes piling up,
// evictions where the profile requires persistence, memory close to maxmemory.
// Raw-metric alerts that would be wrong on a `cache` Redis are restricted to instances
// whose profile carries the `redis_no_evictions` check (durable, das-tern): a cache
// profile does not, so a cache Redis with persistence off or evicting never alerts here.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'redis.yml'+: {
      comment:: |||
        Redis runtime persistence: saves and AOF writes failing, unsaved writes piling up,
        evictions where the profile requires persistence, memory close to maxmemory.
        Raw-metric alerts that would be wrong on a `cache` Redis only apply to targets whose
        profile carries the `redis_no_evictions` check.
      |||,
      local c = $._config,
      local v = u.vars(c),
      groups+: [{
        name: 'redis-persistence',
        rules: [
          // With stop-writes-on-bgsave-error (the default), Redis refuses writes while
          // the last BGSAVE failed: critical whatever the profile.
          {
            alert: 'RedisRdbBgsaveFailing',
            expr: 'redis_rdb_last_bgsave_status%(mb)s == 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Redis {{ $labels.target }}: background save (BGSAVE) failing',
              description: 'The last RDB snapshot of {{ $labels.target }} failed (rdb_last_bgsave_status = {{ $value }}). Nothing written since the last good snapshot is on disk, and with stop-writes-on-bgsave-error Redis refuses writes.',
            },
          },
          // A failed AOF write/fsync makes Redis refuse writes until it succeeds again.
          {
            alert: 'RedisAofWriteFailing',
            expr: 'redis_aof_last_write_status%(mb)s == 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Redis {{ $labels.target }}: AOF writes failing',
              description: 'The last append-only-file write of {{ $labels.target }} failed (aof_last_write_status = {{ $value }}). Redis refuses writes, and acknowledged writes may not be on disk.',
            },
          },
          {
            alert: 'RedisAofRewriteFailing',
            expr: 'redis_aof_last_bgrewrite_status%(mb)s == 0' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Redis {{ $labels.target }}: AOF rewrite failing',
              description: 'The last BGREWRITEAOF of {{ $labels.target }} failed (aof_last_bgrewrite_status = {{ $value }}). The AOF keeps growing and restarts get slower; the disk may fill.',
            },
          },
          // Only where RDB is on (save is not "") and there is something unsaved.
          {
            alert: 'RedisNoRecentSave',
            expr: |||
              (time() - redis_rdb_last_save_timestamp_seconds%(mb)s > %(redisNoRecentSaveSeconds)s)
                and on(%(cl)s, job, instance, target) (redis_rdb_changes_since_last_save%(mb)s > 0)
                and on(%(cl)s, job, instance, target) redis_config_key_value{%(mselc)skey="save", value!=""}
            ||| % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Redis {{ $labels.target }}: no successful RDB save for {{ $value | humanizeDuration }}',
              description: 'RDB is on for {{ $labels.target }}, but the last successful save was {{ $value | humanizeDuration }} ago and {{ with ' +
                           u.printfQuery(c, 'redis_rdb_changes_since_last_save', ['instance', 'target']) +
                           ' | query }}{{ . | first | value }}{{ end }} writes are not in any snapshot. Without AOF a crash loses them.',
            },
          },
          // Severity comes from the profile: it is the severity of the target's
          // redis_no_evictions check (warning under das-tern, which asks for allkeys-lru).
          {
            alert: 'RedisEvictingPersistedKeys',
            expr: |||
              (increase(redis_evicted_keys_total%(mb)s[%(redisEvictionWindow)s]) > 0)
                * on(%(cl)s, job, instance, target) group_left(severity)
              (0 * persistence_check_ok{%(mselc)scheck="redis_no_evictions"} + 1)
            ||| % v,
            annotations: {
              summary: 'Redis {{ $labels.target }} evicts keys although its profile requires persistence',
              description: '{{ $labels.target }} evicted {{ $value | humanize }} keys recently. Its profile requires persistence: every evicted key is data lost.',
            },
          },
          // Near maxmemory, a noeviction Redis starts refusing writes and a persistent
          // Redis starts evicting. A cache Redis with an eviction policy lives there by design.
          {
            alert: 'RedisMemoryNearMaxmemory',
            expr: |||
              (redis_memory_used_bytes%(mb)s / (redis_memory_max_bytes%(mb)s > 0) > %(redisMemoryNearMaxmemoryRatio)s)
                and on(%(cl)s, job, instance, target) (
                  redis_instance_info{%(mselc)smaxmemory_policy="noeviction"}
                  or persistence_check_ok{%(mselc)scheck="redis_no_evictions"}
                )
            ||| % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Redis {{ $labels.target }} uses {{ $value | humanizePercentage }} of maxmemory',
              description: '{{ $labels.target }} uses {{ $value | humanizePercentage }} of its maxmemory. Soon it refuses writes (noeviction) or evicts keys that must persist.',
            },
          },
        ],
      }],
    },
  },
}
