"""Processing algorithm ``glfcr:evaluatedataset``: GLF-CR scored on a split of SEN12MS-CR."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..settings import DEVICES, device_index_setting
from .base import GlfcrAlgorithm
from .evaluate import METRIC_OUTPUTS
from .remove_clouds import MAX_BATCH_SIZE
from .weights import checkpoint_parameter, default_weights_path, weights_file_problem

# core split -> its number in the first column of the authors' data.csv, shown beside its name everywhere;
# the order is the order of the Split choice (index 0 test, the default)
_SPLIT_CODES = {"test": 3, "val": 2, "train": 1}
_SPLITS = tuple(_SPLIT_CODES)
_SPLIT_LABELS = {"test": "test", "val": "validation", "train": "train"}
_CROPS = ("center128", "full")


class EvaluateDatasetAlgorithm(GlfcrAlgorithm):
    """Run GLF-CR on every triplet of a SEN12MS-CR split and report its metrics per image and on average."""

    DATASET_CSV = "DATASET_CSV"
    DATA_ROOT = "DATA_ROOT"
    WEIGHTS = "WEIGHTS"
    SPLIT = "SPLIT"
    CROP = "CROP"
    DEVICE = "DEVICE"
    BATCH_SIZE = "BATCH_SIZE"
    MODEL_NAME = "MODEL_NAME"
    NOTES = "NOTES"
    HISTORY = "HISTORY"
    REPORT_JSON = "REPORT_JSON"
    REPORT_CSV = "REPORT_CSV"
    REPORT_HTML = "REPORT_HTML"
    PSNR = "PSNR"
    SSIM = "SSIM"
    SSIM_CENTERED = "SSIM_CENTERED"
    MAE = "MAE"
    RMSE = "RMSE"
    SAM = "SAM"
    IMAGE_COUNT = "IMAGE_COUNT"

    # what check_before_run checks each output against
    OUTPUT_FORMATS = {REPORT_JSON: "json", REPORT_CSV: "csv", REPORT_HTML: "html", HISTORY: "jsonl"}

    def name(self) -> str:
        return "evaluatedataset"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Evaluate on SEN12MS-CR")

    GROUP_ID = "evaluation"

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Runs GLF-CR on every triplet (SAR, cloud-free, cloudy) of a SEN12MS-CR split and scores the "
            "prediction against the cloud-free patch, as the authors' test script does, with reports."
            "<h3>Dataset</h3>"
            "Either the authors' <b>data.csv</b> (no header: split, s1 folder, cloud-free folder, cloudy "
            "folder, file name; folders relative to the data root; the split column holds 3 for test, 2 for "
            "validation, 1 for train, the numbers the Split choice shows), "
            "or the <b>data root</b> alone holding the official archive layout "
            "(ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p30.tif, ..._s2/s2_1/..., "
            "..._s2_cloudy/s2_cloudy_1/...) split as in the GLF-CR paper: test scenes spring 106, 123, 140, "
            "31, 44; summer 119, 73; fall 139; "
            "winter 108, 63; validation scenes winter 22, 107, 130, 84; summer 19, 80, 127, 17; fall 65; "
            "spring 17; all others train."
            "<h3>How it scores</h3>"
            "Each patch is prepared exactly as the authors' loader (NaN filled with the patch mean, optical "
            "clipped to 0..10000 and divided by 10000, SAR clipped to [-25, 0] dB (VV) and [-32.5, 0] dB "
            "(VH) and rescaled to 0..1), cropped to the centre 128x128 (offset 64; the authors' test) or "
            "kept whole, "
            "run through the network, and its raw output scored with PSNR and SSIM exactly as the authors' "
            "metrics, plus a centred-window SSIM, MAE, RMSE and SAM (degrees). Patches of the same size are "
            "batched; metrics are per image and do not depend on the batch size. The mean PSNR and SSIM are "
            "the averages the authors' script prints."
            "<h3>Outputs</h3>"
            "Means as numbers; when given, a JSON report (settings, checkpoint SHA-256, per-image metrics, "
            "mean and standard deviation), a CSV with one row per image, and an HTML report with quicklooks "
            "of the first images and the worst by PSNR. Optionally each run appends one JSON line to a "
            "history file."
            "<h3>Weights</h3>"
            "The checkpoint (e.g. the authors' CR_net.pth), required; defaults to the one set in Settings > "
            "Options > Processing > Providers > GLF-CR, or to the file named by the environment variable "
            "GLFCR_WEIGHTS, which wins over that setting."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(
                self.DATASET_CSV,
                self.tr("Dataset listing (the authors' data.csv)"),
                behavior=QgsProcessingParameterFile.File,
                fileFilter=self.tr("CSV files (*.csv)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.DATA_ROOT, self.tr("Data root folder"), behavior=QgsProcessingParameterFile.Folder
            )
        )
        self.addParameter(
            checkpoint_parameter(
                self.WEIGHTS,
                self.tr("GLF-CR checkpoint (.pth)"),
                fileFilter=self.tr("PyTorch checkpoints (*.pth *.pt)"),
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.SPLIT,
                self.tr("Split"),
                options=[
                    self.tr("{name} (data.csv split {code})").format(name=_SPLIT_LABELS[split], code=code)
                    for split, code in _SPLIT_CODES.items()
                ],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.CROP,
                self.tr("Area scored"),
                options=[self.tr("Centre 128x128 (the authors' test)"), self.tr("Full 256x256 patch")],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.DEVICE,
                self.tr("Device"),
                options=[self.tr(name) for name in DEVICES],
                defaultValue=device_index_setting(),
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BATCH_SIZE,
                self.tr("Batch size"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=1,
                minValue=1,
                maxValue=MAX_BATCH_SIZE,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.MODEL_NAME, self.tr("Model name (for the reports)"), defaultValue="GLF-CR"
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.NOTES, self.tr("Notes (for the reports)"), optional=True, multiLine=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.HISTORY,
                self.tr("History file to append this run to (JSON lines)"),
                fileFilter=self.tr("JSON lines (*.jsonl)"),
                optional=True,
                createByDefault=False,
            )
        )
        # optional like Evaluate's: the means are outputs too; the dialog proposes temporary files
        for name, description, file_filter in (
            (self.REPORT_JSON, self.tr("Report (JSON)"), self.tr("JSON files (*.json)")),
            (self.REPORT_CSV, self.tr("Per-image metrics (CSV)"), self.tr("CSV files (*.csv)")),
            (self.REPORT_HTML, self.tr("Report (HTML)"), self.tr("HTML files (*.html *.htm)")),
        ):
            self.addParameter(
                QgsProcessingParameterFileDestination(
                    name, description, fileFilter=file_filter, optional=True
                )
            )
        for output in METRIC_OUTPUTS.values():
            self.addOutput(QgsProcessingOutputNumber(output, self.tr("Mean {metric}").format(metric=output)))
        self.addOutput(QgsProcessingOutputNumber(self.IMAGE_COUNT, self.tr("Images evaluated")))

    def input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return weights_file_problem(self._weights(parameters, context)) or ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        reports = {
            name: self.parameterAsFileOutput(parameters, name, context) or None
            for name in (self.REPORT_JSON, self.REPORT_CSV, self.REPORT_HTML, self.HISTORY)
        }
        self.require_torch()
        with self.core_call(feedback) as hooks:
            from ..core.evaluation.dataset_evaluation import evaluate_dataset

            result = evaluate_dataset(
                self.parameterAsFile(parameters, self.DATA_ROOT, context),
                self._weights(parameters, context),
                split=_SPLITS[self.parameterAsEnum(parameters, self.SPLIT, context)],
                csv_path=self.parameterAsFile(parameters, self.DATASET_CSV, context) or None,
                crop=_CROPS[self.parameterAsEnum(parameters, self.CROP, context)],
                device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
                batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                model_name=self.parameterAsString(parameters, self.MODEL_NAME, context),
                notes=self.parameterAsString(parameters, self.NOTES, context),
                report_json=reports[self.REPORT_JSON],
                report_csv=reports[self.REPORT_CSV],
                report_html=reports[self.REPORT_HTML],
                history=reports[self.HISTORY],
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        # the authors' test script prints these lines
        for index, score in enumerate(result.images):
            feedback.pushInfo(
                "{index}  psnr_13: {psnr:.4f}  ssim_13: {ssim:.4f}  {name}".format(
                    index=index, name=score.name, **score.metrics
                )
            )
        feedback.pushInfo(
            self.tr("Average over {count} images: PSNR {psnr:.4f} dB, SSIM {ssim:.4f}").format(
                count=len(result.images), **result.mean
            )
        )
        outputs: dict[str, Any] = dict(reports)
        outputs.update({output: result.mean[metric] for metric, output in METRIC_OUTPUTS.items()})
        outputs[self.IMAGE_COUNT] = len(result.images)
        return outputs

    def _weights(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return (self.parameterAsFile(parameters, self.WEIGHTS, context) or default_weights_path()).strip()
