// Docker volumes: the filesystem holding Docker's volumes (one per Engine).
//
// Opt-out for filesystems that are meant to be full: the series carry full_ok="true",
// attached on the Prometheus side (metric_relabel_configs on the scrape job, see
// docs/runbook.md#opting-a-volume-filesystem-out). Docker volume labels cannot do this:
// the filesystem metrics belong to the Engine, not to a volume.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'docker.yml'+: {
      comment:: |||
        Docker volumes: the filesystem holding Docker's volumes (one per Engine).
        Opt-out for filesystems meant to be full: full_ok="true", attached with
        metric_relabel_configs (docs/runbook.md#opting-a-volume-filesystem-out).
      |||,
      local c = $._config,
      local v = u.vars(c),
      groups+: [{
        name: 'docker-volumes',
        rules: [
          {
            alert: 'DockerVolumeFilesystemAlmostFull',
            expr: |||
              1 - docker_volumes_filesystem_avail_bytes{%(mselc)sfull_ok!="true"}
                    / docker_volumes_filesystem_size_bytes{%(mselc)sfull_ok!="true"}
                > %(dockerVolumeFilesystemFullRatio)s
            ||| % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Docker volumes on {{ $labels.instance }} are {{ $value | humanizePercentage }} full',
              description: "The filesystem holding Docker's volumes on {{ $labels.instance }} is {{ $value | humanizePercentage }} full. When it is full, PostgreSQL stops (PANIC on WAL write) and Redis refuses writes.",
            },
          },
          {
            alert: 'DockerVolumeFilesystemFillingUp',
            expr: 'predict_linear(docker_volumes_filesystem_avail_bytes{%(mselc)sfull_ok!="true"}[%(dockerVolumeFillingUpWindow)s], %(dockerVolumeFillingUpHorizonSeconds)s) < 0' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Docker volumes on {{ $labels.instance }} predicted full within a day',
              description: "At the growth rate of the last hours, the filesystem holding Docker's volumes on {{ $labels.instance }} runs out of space within 24 hours (predicted free space: {{ $value | humanize1024 }}B).",
            },
          },
        ],
      }],
    },
  },
}
