<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name>@default</name>
    <message>
        <location filename="../plugin.py" line="30"/>
        <source>&amp;Landslide Detector</source>
        <translation>&amp;Landslide Detector</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="54"/>
        <source>The Processing provider could not be loaded: {}</source>
        <translation>Der Processing-Provider konnte nicht geladen werden: {}</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="60"/>
        <source>QGIS refused to register the &apos;landslides&apos; Processing provider.</source>
        <translation>QGIS hat die Registrierung des Processing-Providers 'landslides' abgelehnt.</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="69"/>
        <source>Detect landslides</source>
        <translation>Rutschungen erkennen</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="71"/>
        <source>Detect landslides in the active orthophoto: opens the panel ready to run</source>
        <translation>Rutschungen im aktiven Orthofoto erkennen: öffnet das Bedienfeld startbereit</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="76"/>
        <source>Landslide Detector panel</source>
        <translation>Landslide-Detector-Bedienfeld</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="81"/>
        <source>Show or hide the Landslide Detector panel</source>
        <translation>Landslide-Detector-Bedienfeld ein- oder ausblenden</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="79"/>
        <source>Landslide Detector</source>
        <translation>Landslide Detector</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="168"/>
        <source>Add an orthophoto (raster layer) to the project, then press Detect landslides.</source>
        <translation>Fügen Sie dem Projekt ein Orthofoto (Rasterlayer) hinzu und drücken Sie dann „Rutschungen erkennen“.</translation>
    </message>
    <message>
        <location filename="../plugin.py" line="170"/>
        <source>The selected layer is not a raster: pick the orthophoto in the panel and press Detect landslides.</source>
        <translation>Der gewählte Layer ist kein Raster: Wählen Sie das Orthofoto im Bedienfeld und drücken Sie „Rutschungen erkennen“.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="93"/>
        <source>The detection failed without a message; see the Processing log (View ▸ Panels ▸ Log Messages).</source>
        <translation>Die Erkennung ist ohne Meldung fehlgeschlagen; siehe Processing-Protokoll (Ansicht ▸ Bedienfelder ▸ Protokollmeldungen).</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="109"/>
        <source>The setting &apos;{}&apos; does not accept {!r}: use at least {:g}.</source>
        <translation>Die Einstellung „{}“ akzeptiert {!r} nicht: Verwenden Sie mindestens {:g}.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="111"/>
        <source>The setting &apos;{}&apos; does not accept {!r}: use {:g} to {:g}.</source>
        <translation>Die Einstellung „{}“ akzeptiert {!r} nicht: Verwenden Sie {:g} bis {:g}.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="113"/>
        <source>The setting &apos;{}&apos; does not accept {!r}.</source>
        <translation>Die Einstellung „{}“ akzeptiert {!r} nicht.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="211"/>
        <source>The Processing algorithm {} is not available: the plugin's Processing provider did not load. Check View ▸ Panels ▸ Log Messages and reinstall.</source>
        <translation>Der Processing-Algorithmus {} ist nicht verfügbar: Der Processing-Provider des Plugins wurde nicht geladen. Prüfen Sie Ansicht ▸ Bedienfelder ▸ Protokollmeldungen und installieren Sie neu.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="222"/>
        <source>Cannot write to the output folder {}: {}. Choose another one.</source>
        <translation>In den Ausgabeordner {} kann nicht geschrieben werden: {}. Wählen Sie einen anderen.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="238"/>
        <source>Detecting landslides in {}</source>
        <translation>Rutschungserkennung in {}</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="258"/>
        <source>Landslide detection in {} cancelled</source>
        <translation>Rutschungserkennung in {} abgebrochen</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="274"/>
        <source>Detection cancelled; nothing was written.</source>
        <translation>Erkennung abgebrochen; es wurde nichts geschrieben.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="287"/>
        <source>The algorithm reported success but wrote no file at {}.</source>
        <translation>Der Algorithmus meldete Erfolg, hat aber keine Datei unter {} geschrieben.</translation>
    </message>
    <message>
        <location filename="../ui/detection_run.py" line="299"/>
        <source>Could not move the result to {}: {}.</source>
        <translation>Das Ergebnis konnte nicht nach {} verschoben werden: {}.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="117"/>
        <source>ONNX models (*.onnx)</source>
        <translation>ONNX-Modelle (*.onnx)</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="118"/>
        <source>Choose an ONNX landslide model</source>
        <translation>ONNX-Rutschungsmodell wählen</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="120"/>
        <source>Folder for detection results</source>
        <translation>Ordner für Erkennungsergebnisse</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="321"/>
        <source>&lt;b&gt;onnxruntime is not installed in QGIS&apos;s Python&lt;/b&gt;, so detection cannot run ({}). Press Install, or run this command and restart QGIS:</source>
        <translation>&lt;b&gt;onnxruntime ist im Python von QGIS nicht installiert&lt;/b&gt;, daher kann die Erkennung nicht laufen ({}). Drücken Sie „Installieren“ oder führen Sie diesen Befehl aus und starten Sie QGIS neu:</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="344"/>
        <source>Installing… (this can take a few minutes)</source>
        <translation>Installation läuft … (das kann einige Minuten dauern)</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="370"/>
        <source>No model chosen: choose an .onnx file or press Shipped.</source>
        <translation>Kein Modell gewählt: Wählen Sie eine .onnx-Datei oder drücken Sie „Mitgeliefert“.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="373"/>
        <source>The shipped model {} is missing: reinstall the plugin or choose an .onnx file.</source>
        <translation>Das mitgelieferte Modell {} fehlt: Installieren Sie das Plugin neu oder wählen Sie eine .onnx-Datei.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="375"/>
        <source>The file {} does not exist: choose an existing .onnx model.</source>
        <translation>Die Datei {} existiert nicht: Wählen Sie ein vorhandenes .onnx-Modell.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="387"/>
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="389"/>
        <source>Model: shipped with the plugin</source>
        <translation>Modell: mit dem Plugin geliefert</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="389"/>
        <source>Model: your file</source>
        <translation>Modell: Ihre Datei</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="402"/>
        <source>Licence of the weights: {}</source>
        <translation>Lizenz der Gewichte: {}</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="406"/>
        <source>The model card is shown once onnxruntime is installed.</source>
        <translation>Die Modellkarte erscheint, sobald onnxruntime installiert ist.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="414"/>
        <source>Runs on:</source>
        <translation>Läuft auf:</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="471"/>
        <source>The folder you chose (remembered).</source>
        <translation>Der von Ihnen gewählte Ordner (gespeichert).</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="511"/>
        <source>Ready to search {}: check the settings, then press Detect landslides.</source>
        <translation>Bereit, {} zu durchsuchen: Prüfen Sie die Einstellungen und drücken Sie dann „Rutschungen erkennen“.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="547"/>
        <source>A detection is already running; wait for it or press Cancel.</source>
        <translation>Es läuft bereits eine Erkennung; warten Sie darauf oder drücken Sie „Abbrechen“.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="553"/>
        <source>Install onnxruntime first: the panel shows the command and an Install button.</source>
        <translation>Installieren Sie zuerst onnxruntime: Das Bedienfeld zeigt den Befehl und eine Schaltfläche „Installieren“.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="558"/>
        <source>Choose the orthophoto (a raster layer) to search.</source>
        <translation>Wählen Sie das zu durchsuchende Orthofoto (einen Rasterlayer).</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="570"/>
        <source>TTA</source>
        <translation>TTA</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="579"/>
        <source>Detecting landslides in {}…</source>
        <translation>Suche nach Rutschungen in {} …</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="587"/>
        <source>Cancelling…</source>
        <translation>Wird abgebrochen …</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="605"/>
        <source>Detection failed: {}</source>
        <translation>Erkennung fehlgeschlagen: {}</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="640"/>
        <source>Done: {}. Saved as {}</source>
        <translation>Fertig: {}. Gespeichert als {}</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="705"/>
        <source>{} holds no landslides.</source>
        <translation>{} enthält keine Rutschungen.</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="725"/>
        <source>Save landslides as</source>
        <translation>Rutschungen speichern unter</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="725"/>
        <source>GeoPackage (*.gpkg)</source>
        <translation>GeoPackage (*.gpkg)</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="743"/>
        <source>Saved {} to {}</source>
        <translation>{} gespeichert in {}</translation>
    </message>
    <message>
        <location filename="../ui/dock.py" line="744"/>
        <source>Saved to {}</source>
        <translation>Gespeichert in {}</translation>
    </message>
    <message>
        <location filename="../ui/installer.py" line="44"/>
        <source>Could not start {}. Run this command in a terminal instead:
{}</source>
        <translation>{} konnte nicht gestartet werden. Führen Sie stattdessen diesen Befehl in einem Terminal aus:
{}</translation>
    </message>
    <message>
        <location filename="../ui/installer.py" line="54"/>
        <source>pip failed (exit code {}): {}
Details are in the log (View ▸ Panels ▸ Log Messages, tab '{}').</source>
        <translation>pip ist fehlgeschlagen (Rückgabewert {}): {}
Einzelheiten stehen im Protokoll (Ansicht ▸ Bedienfelder ▸ Protokollmeldungen, Reiter „{}“).</translation>
    </message>
    <message>
        <location filename="../ui/installer.py" line="65"/>
        <source>pip finished, but onnxruntime still does not import ({}). Restart QGIS.</source>
        <translation>pip ist fertig, aber onnxruntime lässt sich noch immer nicht importieren ({}). Starten Sie QGIS neu.</translation>
    </message>
    <message>
        <location filename="../ui/installer.py" line="68"/>
        <source>onnxruntime is installed and ready.</source>
        <translation>onnxruntime ist installiert und bereit.</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="32"/>
        <source>unknown</source>
        <translation>unbekannt</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="36"/>
        <source>{}, width {}</source>
        <translation>{}, Breite {}</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="86"/>
        <source>not recorded</source>
        <translation>nicht angegeben</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="68"/>
        <source>{} px, overlap {} px</source>
        <translation>{} px, Überlappung {} px</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="69"/>
        <source>threshold {:.2f}, minimum area {:g} m²</source>
        <translation>Schwellenwert {:.2f}, Mindestfläche {:g} m²</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="73"/>
        <source>Network</source>
        <translation>Netz</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="74"/>
        <source>Trained on</source>
        <translation>Trainiert mit</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="75"/>
        <source>Resolution</source>
        <translation>Auflösung</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="75"/>
        <source>{:g} m/pixel</source>
        <translation>{:g} m/Pixel</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="76"/>
        <source>Validation</source>
        <translation>Validierung</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="77"/>
        <source>Calibrated</source>
        <translation>Kalibriert</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="78"/>
        <source>Tiles</source>
        <translation>Kacheln</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="79"/>
        <source>Bands</source>
        <translation>Bänder</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="80"/>
        <source>Licence</source>
        <translation>Lizenz</translation>
    </message>
    <message>
        <location filename="../ui/model_summary.py" line="108"/>
        <source>This model cannot be used:</source>
        <translation>Dieses Modell ist nicht verwendbar:</translation>
    </message>
    <message>
        <location filename="../ui/output_folder.py" line="28"/>
        <source>Next to your project, in its &apos;landslides&apos; folder.</source>
        <translation>Neben Ihrem Projekt, in dessen Ordner „landslides“.</translation>
    </message>
    <message>
        <location filename="../ui/output_folder.py" line="29"/>
        <source>Temporary folder: the project is not saved yet. Save the project or choose a folder to keep the results after QGIS closes.</source>
        <translation>Temporärer Ordner: Das Projekt ist noch nicht gespeichert. Speichern Sie das Projekt oder wählen Sie einen Ordner, damit die Ergebnisse nach dem Schließen von QGIS erhalten bleiben.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="43"/>
        <source>The map shows nothing yet: zoom to the area to search first.</source>
        <translation>Die Karte zeigt noch nichts: Zoomen Sie zuerst auf das zu durchsuchende Gebiet.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="46"/>
        <source>map extent</source>
        <translation>Kartenausschnitt</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="49"/>
        <source>Choose the polygon layer whose selected features to search in.</source>
        <translation>Wählen Sie den Polygonlayer, in dessen gewählten Objekten gesucht werden soll.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="52"/>
        <source>Nothing is selected in {}: select the polygons to search in, or search everything.</source>
        <translation>In {} ist nichts gewählt: Wählen Sie die Polygone, in denen gesucht werden soll, oder durchsuchen Sie alles.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="55"/>
        <source>{} selected</source>
        <translation>{} gewählt</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="62"/>
        <source>What the map shows when you press Detect landslides.</source>
        <translation>Was die Karte zeigt, wenn Sie „Rutschungen erkennen“ drücken.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="65"/>
        <source>Add a polygon layer and select the areas to search in.</source>
        <translation>Fügen Sie einen Polygonlayer hinzu und wählen Sie die zu durchsuchenden Gebiete.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="68"/>
        <source>Nothing selected in {} yet.</source>
        <translation>In {} ist noch nichts gewählt.</translation>
    </message>
    <message>
        <location filename="../ui/processing_area.py" line="69"/>
        <source>Selected in {}: {}</source>
        <translation>Gewählt in {}: {}</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="58"/>
        <source>Zoom</source>
        <translation>Zoomen</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="58"/>
        <source>Zoom the map to these landslides</source>
        <translation>Karte auf diese Rutschungen zoomen</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="61"/>
        <source>Table</source>
        <translation>Tabelle</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="61"/>
        <source>Open the attribute table</source>
        <translation>Attributtabelle öffnen</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="64"/>
        <source>Save…</source>
        <translation>Speichern …</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="64"/>
        <source>Save to another GeoPackage</source>
        <translation>In einem anderen GeoPackage speichern</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="71"/>
        <source>1 polygon</source>
        <translation>1 Polygon</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="71"/>
        <source>{} polygons</source>
        <translation>{} Polygone</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="88"/>
        <source>threshold {:.2f}</source>
        <translation>Schwellenwert {:.2f}</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="89"/>
        <source>min. {}</source>
        <translation>min. {}</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="128"/>
        <source>The result {} could not be opened as a vector layer.</source>
        <translation>Das Ergebnis {} ließ sich nicht als Vektorlayer öffnen.</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="133"/>
        <source>{} (probability)</source>
        <translation>{} (Wahrscheinlichkeit)</translation>
    </message>
    <message>
        <location filename="../ui/result_layers.py" line="175"/>
        <source>Could not save {} to {}: {}</source>
        <translation>{} konnte nicht in {} gespeichert werden: {}</translation>
    </message>
    <message>
        <location filename="../ui/result_item.py" line="47"/>
        <source>Raster: {}
Model: {}
Execution provider: {} ({})
Precision: {} ({})
Finished: {}</source>
        <translation>Raster: {}
Modell: {}
Ausführungsprovider: {} ({})
Genauigkeit: {} ({})
Beendet: {}</translation>
    </message>
</context>
<context>
    <name>DetectLandslidesAlgorithm</name>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="62"/>
        <source>Detect landslides</source>
        <translation>Rutschungen erkennen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="65"/>
        <source>landslide,deep learning,segmentation,onnx,orthophoto,da-u-net</source>
        <translation>Rutschung,Erdrutsch,Deep Learning,Segmentierung,onnx,Orthofoto,da-u-net</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="69"/>
        <source>Orthophoto</source>
        <translation>Orthofoto</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="70"/>
        <source>ONNX model (empty: the model shipped with the plugin)</source>
        <translation>ONNX-Modell (leer: das mit dem Plugin gelieferte Modell)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="82"/>
        <source>Probability threshold (empty: the model&apos;s own)</source>
        <translation>Wahrscheinlichkeits-Schwellenwert (leer: der des Modells)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="93"/>
        <source>Minimum polygon area in m² (empty: the model's own)</source>
        <translation>Mindestfläche der Polygone in m² (leer: die des Modells)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="103"/>
        <source>Search only inside these polygons</source>
        <translation>Nur innerhalb dieser Polygone suchen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="111"/>
        <source>Search only inside this extent</source>
        <translation>Nur innerhalb dieser Ausdehnung suchen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="130"/>
        <source>Bands in model order (empty: as the model was trained)</source>
        <translation>Bänder in Modellreihenfolge (leer: wie das Modell trainiert wurde)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="137"/>
        <source>Device (auto: CUDA GPU if available, else CPU)</source>
        <translation>Gerät (auto: CUDA-GPU, falls verfügbar, sonst CPU)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="153"/>
        <source>CPU threads (0: automatic)</source>
        <translation>CPU-Threads (0: automatisch)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="160"/>
        <source>Tile size in pixels (empty: fitted to the raster)</source>
        <translation>Kachelgröße in Pixeln (leer: an das Raster angepasst)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="169"/>
        <source>Tile overlap in pixels (empty: the model&apos;s)</source>
        <translation>Kachelüberlappung in Pixeln (leer: die des Modells)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="177"/>
        <source>Tiles per batch (0: automatic)</source>
        <translation>Kacheln je Stapel (0: automatisch)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="189"/>
        <source>Resample to the model&apos;s ground sampling distance</source>
        <translation>Auf die Bodenauflösung des Modells umrechnen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="194"/>
        <source>Simplify polygons: tolerance in raster CRS units (0: exact pixel edges)</source>
        <translation>Polygone vereinfachen: Toleranz in Einheiten des Raster-KBS (0: exakte Pixelkanten)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="206"/>
        <source>Landslides</source>
        <translation>Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="211"/>
        <source>Landslide probability</source>
        <translation>Rutschungswahrscheinlichkeit</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="219"/>
        <source>Number of landslides</source>
        <translation>Anzahl der Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="220"/>
        <source>Total landslide area (m²)</source>
        <translation>Gesamtfläche der Rutschungen (m²)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="221"/>
        <source>Execution provider used</source>
        <translation>Verwendeter Ausführungsprovider</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="222"/>
        <source>Why this provider</source>
        <translation>Warum dieser Provider</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="225"/>
        <source>Detection time (s)</source>
        <translation>Erkennungsdauer (s)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="365"/>
        <source>landslide polygons</source>
        <translation>Rutschungspolygone</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="283"/>
        <source>probability raster</source>
        <translation>Wahrscheinlichkeitsraster</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="401"/>
        <source>Detection canceled; no output was written.</source>
        <translation>Erkennung abgebrochen; es wurde keine Ausgabe geschrieben.</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="315"/>
        <source>{} landslides, {:.1f} {} in total, found in {:.1f} s (threshold {:g}, minimum area {:g} m²).</source>
        <translation>{} Rutschungen, insgesamt {:.1f} {}, gefunden in {:.1f} s (Schwellenwert {:g}, Mindestfläche {:g} m²).</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="426"/>
        <source>The mask layer holds no polygons: nothing will be searched.</source>
        <translation>Der Maskenlayer enthält keine Polygone: Es wird nichts durchsucht.</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="184"/>
        <source>Test-time augmentation (4 or 8 model passes per tile: 3 to 8 times slower)</source>
        <translation>Test-Time-Augmentierung (4 oder 8 Modelldurchläufe je Kachel: 3- bis 8-mal langsamer)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="144"/>
        <source>CPU precision (auto: int8 on CPUs with VNNI or AMX if the model has an int8 copy)</source>
        <translation>CPU-Genauigkeit (auto: int8 auf CPUs mit VNNI oder AMX, wenn das Modell eine int8-Kopie hat)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="223"/>
        <source>Precision used</source>
        <translation>Verwendete Genauigkeit</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="224"/>
        <source>Why this precision</source>
        <translation>Warum diese Genauigkeit</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="414"/>
        <source>The mask &apos;{}&apos; holds no polygons ({}). Give a polygon layer to search inside.</source>
        <translation>Die Maske „{}“ enthält keine Polygone ({}). Geben Sie einen Polygonlayer an, innerhalb dessen gesucht werden soll.</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="116"/>
        <source>Elevation raster (DSM or DEM, any resolution and CRS; adds slope_mean_deg)</source>
        <translation>Höhenraster (DOM oder DGM, beliebige Auflösung und KBS; ergänzt slope_mean_deg)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="125"/>
        <source>Class to map, by name or number (empty: &apos;landslide&apos;, or the model&apos;s only class)</source>
        <translation>Zu kartierende Klasse, nach Name oder Nummer (leer: „landslide“ oder die einzige Klasse des Modells)</translation>
    </message>
    <message>
        <location filename="../processing_provider/detect_algorithm.py" line="226"/>
        <source>Warnings (one per line)</source>
        <translation>Warnungen (eine pro Zeile)</translation>
    </message>
</context>
<context>
    <name>EvaluateAlgorithm</name>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="78"/>
        <source>Evaluate against inventory</source>
        <translation>Mit Inventar vergleichen</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="81"/>
        <source>landslide,accuracy,iou,precision,recall,f1,validation,inventory</source>
        <translation>Rutschung,Genauigkeit,iou,Präzision,Trefferquote,f1,Validierung,Inventar</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="85"/>
        <source>Detected landslides (polygons or raster)</source>
        <translation>Erkannte Rutschungen (Polygone oder Raster)</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="90"/>
        <source>Reference inventory (polygons or raster)</source>
        <translation>Referenzinventar (Polygone oder Raster)</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="95"/>
        <source>Object match threshold (intersection over union)</source>
        <translation>Schwellenwert für Objektzuordnung (Intersection over Union)</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="116"/>
        <source>Raster inputs: landslide where the value is at least</source>
        <translation>Rastereingaben: Rutschung, wo der Wert mindestens beträgt</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="124"/>
        <source>Metrics table</source>
        <translation>Kennzahlentabelle</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="164"/>
        <source>HTML report</source>
        <translation>HTML-Bericht</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="129"/>
        <source>HTML files (*.html)</source>
        <translation>HTML-Dateien (*.html)</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="135"/>
        <source>Pixel IoU</source>
        <translation>Pixel-IoU</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="136"/>
        <source>Pixel precision</source>
        <translation>Pixel-Präzision</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="137"/>
        <source>Pixel recall</source>
        <translation>Pixel-Trefferquote</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="138"/>
        <source>Pixel F1</source>
        <translation>Pixel-F1</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="139"/>
        <source>Object precision</source>
        <translation>Objekt-Präzision</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="140"/>
        <source>Object recall</source>
        <translation>Objekt-Trefferquote</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="141"/>
        <source>Object F1</source>
        <translation>Objekt-F1</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="155"/>
        <source>Could not open &apos;{}&apos; ({}) as a polygon layer or a raster.</source>
        <translation>„{}“ ({}) ließ sich weder als Polygonlayer noch als Raster öffnen.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="354"/>
        <source>metrics table</source>
        <translation>Kennzahlentabelle</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="203"/>
        <source>Evaluation canceled; no output was written.</source>
        <translation>Auswertung abgebrochen; es wurde keine Ausgabe geschrieben.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="211"/>
        <source>Detected landslides</source>
        <translation>Erkannte Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="212"/>
        <source>Reference inventory</source>
        <translation>Referenzinventar</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="213"/>
        <source>Object match IoU threshold</source>
        <translation>IoU-Schwellenwert für Objektzuordnung</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="225"/>
        <source>Landslide detection accuracy</source>
        <translation>Genauigkeit der Rutschungserkennung</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="229"/>
        <source>Could not write the HTML report &apos;{}&apos;: {}</source>
        <translation>Der HTML-Bericht „{}“ konnte nicht geschrieben werden: {}</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="284"/>
        <source>&apos;{}&apos; ({}) holds no polygons: give landslide polygons or a landslide raster.</source>
        <translation>„{}“ ({}) enthält keine Polygone: Geben Sie Rutschungspolygone oder ein Rutschungsraster an.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="303"/>
        <source>Both inputs are polygons: set a pixel size above 0 to compare them on a grid.</source>
        <translation>Beide Eingaben sind Polygone: Setzen Sie eine Pixelgröße über 0, um sie auf einem Raster zu vergleichen.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="311"/>
        <source>Comparing the polygons at a pixel size of {} would need a {} x {} pixel grid. Increase the pixel size.</source>
        <translation>Der Vergleich der Polygone bei einer Pixelgröße von {} bräuchte ein Raster von {} x {} Pixeln. Vergrößern Sie die Pixelgröße.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="105"/>
        <source>Pixel size when both inputs are polygons (projected CRS units; metres if geographic)</source>
        <translation>Pixelgröße, wenn beide Eingaben Polygone sind (Einheiten des projizierten KBS; Meter bei geographischem)</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="173"/>
        <source>Both inputs are polygons: compared on a grid of {} pixels in {}.</source>
        <translation>Beide Eingaben sind Polygone: verglichen auf einem Raster von {} Pixeln in {}.</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="216"/>
        <source>Comparison grid</source>
        <translation>Vergleichsraster</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="216"/>
        <source>{} pixels in {}</source>
        <translation>{} Pixel in {}</translation>
    </message>
    <message>
        <location filename="../processing_provider/evaluate_algorithm.py" line="327"/>
        <source>The comparison grid cannot be created in &apos;{}&apos; ({}). Check the free disk space.</source>
        <translation>Das Vergleichsraster kann in „{}“ nicht angelegt werden ({}). Prüfen Sie den freien Speicherplatz.</translation>
    </message>
</context>
<context>
    <name>ExportTilesAlgorithm</name>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="54"/>
        <source>Export training tiles</source>
        <translation>Trainingskacheln exportieren</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="57"/>
        <source>landslide,training,tiles,labels,dataset,fine-tune</source>
        <translation>Rutschung,Training,Kacheln,Labels,Datensatz,Feinabstimmung</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="61"/>
        <source>Orthophoto</source>
        <translation>Orthofoto</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="62"/>
        <source>Landslide inventory</source>
        <translation>Rutschungsinventar</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="67"/>
        <source>Tile size (pixels)</source>
        <translation>Kachelgröße (Pixel)</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="77"/>
        <source>Overlap (pixels)</source>
        <translation>Überlappung (Pixel)</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="86"/>
        <source>Share of tiles without landslides to keep (0: none, 1: all)</source>
        <translation>Anteil der Kacheln ohne Rutschungen, der behalten wird (0: keine, 1: alle)</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="97"/>
        <source>Bands to export (empty: all)</source>
        <translation>Zu exportierende Bänder (leer: alle)</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="104"/>
        <source>Tile name prefix</source>
        <translation>Präfix der Kachelnamen</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="105"/>
        <source>Random seed for choosing tiles without landslides</source>
        <translation>Zufallsstartwert für die Auswahl der Kacheln ohne Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="115"/>
        <source>Output folder</source>
        <translation>Ausgabeordner</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="118"/>
        <source>Tile pairs written</source>
        <translation>Geschriebene Kachelpaare</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="119"/>
        <source>Tiles with landslides</source>
        <translation>Kacheln mit Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="120"/>
        <source>Tiles without landslides</source>
        <translation>Kacheln ohne Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="131"/>
        <source>Choose an output folder for the tiles.</source>
        <translation>Wählen Sie einen Ausgabeordner für die Kacheln.</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="134"/>
        <source>The tile name prefix &apos;{}&apos; must not contain &apos;/&apos;.</source>
        <translation>Das Präfix der Kachelnamen „{}“ darf kein „/“ enthalten.</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="152"/>
        <source>{} inventory polygons</source>
        <translation>{} Inventarpolygone</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="173"/>
        <source>{} tile pairs ({} with landslides, {} without) in {}</source>
        <translation>{} Kachelpaare ({} mit Rutschungen, {} ohne) in {}</translation>
    </message>
    <message>
        <location filename="../processing_provider/export_tiles_algorithm.py" line="140"/>
        <source>The inventory &apos;{}&apos; holds {}, not landslide polygons. Give a polygon layer (points, lines or a table cannot be burnt into label tiles).</source>
        <translation>Das Inventar „{}“ enthält {}, keine Rutschungspolygone. Geben Sie einen Polygonlayer an (Punkte, Linien oder eine Tabelle lassen sich nicht in Label-Kacheln einbrennen).</translation>
    </message>
</context>
<context>
    <name>LandslideDock</name>
    <message>
        <location filename="../ui/landslide_dock.ui" line="15"/>
        <source>Landslide Detector</source>
        <translation>Landslide Detector</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="56"/>
        <source>onnxruntime is missing.</source>
        <translation>onnxruntime fehlt.</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="69"/>
        <source>Run this in a terminal, or press Install</source>
        <translation>Führen Sie dies in einem Terminal aus oder drücken Sie „Installieren“</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="78"/>
        <source>Install</source>
        <translation>Installieren</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="85"/>
        <source>Copy command</source>
        <translation>Befehl kopieren</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="117"/>
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="125"/>
        <source>The ONNX model that maps landslides</source>
        <translation>Das ONNX-Modell, das Rutschungen kartiert</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="132"/>
        <source>Shipped</source>
        <translation>Mitgeliefert</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="135"/>
        <source>Use the model shipped with the plugin</source>
        <translation>Das mit dem Plugin gelieferte Modell verwenden</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="170"/>
        <source>Detection</source>
        <translation>Erkennung</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="176"/>
        <source>Orthophoto</source>
        <translation>Orthofoto</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="183"/>
        <source>The raster to search; follows the layer selected in the Layers panel</source>
        <translation>Das zu durchsuchende Raster; folgt dem im Layer-Bedienfeld gewählten Layer</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="190"/>
        <source>Search in</source>
        <translation>Suchen in</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="197"/>
        <source>Which part of the orthophoto to search</source>
        <translation>Welcher Teil des Orthofotos durchsucht wird</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="201"/>
        <source>Whole layer</source>
        <translation>Ganzer Layer</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="206"/>
        <source>Visible map extent</source>
        <translation>Sichtbarer Kartenausschnitt</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="211"/>
        <source>Selected polygons</source>
        <translation>Gewählte Polygone</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="219"/>
        <source>Polygons</source>
        <translation>Polygone</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="226"/>
        <source>Only the selected features of this polygon layer are searched</source>
        <translation>Nur die gewählten Objekte dieses Polygonlayers werden durchsucht</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="240"/>
        <source>Use the model&apos;s calibrated threshold and minimum area</source>
        <translation>Kalibrierten Schwellenwert und Mindestfläche des Modells verwenden</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="243"/>
        <source>The values chosen when the model was validated; untick to set your own (they are remembered)</source>
        <translation>Die bei der Validierung des Modells gewählten Werte; abwählen, um eigene festzulegen (sie werden gespeichert)</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="253"/>
        <source>Threshold</source>
        <translation>Schwellenwert</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="260"/>
        <source>Pixels whose landslide probability reaches this value become landslide</source>
        <translation>Pixel, deren Rutschungswahrscheinlichkeit diesen Wert erreicht, gelten als Rutschung</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="282"/>
        <source>Minimum area</source>
        <translation>Mindestfläche</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="289"/>
        <source>Polygons smaller than this are dropped</source>
        <translation>Kleinere Polygone werden verworfen</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="292"/>
        <source> m²</source>
        <translation> m²</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="308"/>
        <source>Also save the probability raster and show it on the map</source>
        <translation>Auch das Wahrscheinlichkeitsraster speichern und auf der Karte zeigen</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="311"/>
        <source>The model&apos;s per-pixel landslide probability (0 to 1) as a GeoTIFF beside the polygons</source>
        <translation>Die Rutschungswahrscheinlichkeit des Modells je Pixel (0 bis 1) als GeoTIFF neben den Polygonen</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="321"/>
        <source>Advanced</source>
        <translation>Erweitert</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="333"/>
        <source>Device</source>
        <translation>Gerät</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="341"/>
        <source>Automatic (CUDA if available)</source>
        <translation>Automatisch (CUDA, falls verfügbar)</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="346"/>
        <source>CUDA (NVIDIA GPU)</source>
        <translation>CUDA (NVIDIA-GPU)</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="351"/>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="359"/>
        <source>Tile size</source>
        <translation>Kachelgröße</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="369"/>
        <source>Fitted to the raster</source>
        <translation>Angepasst</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="395"/>
        <source> px</source>
        <translation> px</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="385"/>
        <source>Overlap</source>
        <translation>Überlappung</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="392"/>
        <source>Model default</source>
        <translation>Vorgabe des Modells</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="414"/>
        <source>Batch size</source>
        <translation>Stapelgröße</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="421"/>
        <source>Automatic</source>
        <translation>Automatisch</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="447"/>
        <source>Toolbar button starts the detection at once</source>
        <translation>Werkzeugleisten-Schaltfläche startet die Erkennung sofort</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="450"/>
        <source>Otherwise the toolbar button opens this panel ready to run, and Detect landslides starts it</source>
        <translation>Sonst öffnet die Werkzeugleisten-Schaltfläche dieses Bedienfeld startbereit, und „Rutschungen erkennen“ startet die Erkennung</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="460"/>
        <source>Output folder</source>
        <translation>Ausgabeordner</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="466"/>
        <source>Each run is saved here as a GeoPackage</source>
        <translation>Jeder Lauf wird hier als GeoPackage gespeichert</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="485"/>
        <source>Detect landslides</source>
        <translation>Rutschungen erkennen</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="495"/>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="521"/>
        <source>Results</source>
        <translation>Ergebnisse</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="366"/>
        <source>Fitted to the raster: per axis the tile length (the model&apos;s, or a multiple of 128 up to 1024 px) that sends the fewest pixels through the network</source>
        <translation>An das Raster angepasst: je Achse die Kachellänge (die des Modells oder ein Vielfaches von 128 bis 1024 px), die am wenigsten Pixel durch das Netz schickt</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="437"/>
        <source>Test-time augmentation (3 to 8 times slower)</source>
        <translation>Test-Time-Augmentierung (3- bis 8-mal langsamer)</translation>
    </message>
    <message>
        <location filename="../ui/landslide_dock.ui" line="440"/>
        <source>Runs the model on 8 rotated and mirrored copies of every square tile (4 flips when the tiles are not square) and averages them: smoother edges, fewer speckles</source>
        <translation>Führt das Modell auf 8 gedrehten und gespiegelten Kopien jeder quadratischen Kachel aus (4 Spiegelungen, wenn die Kacheln nicht quadratisch sind) und mittelt sie: glattere Ränder, weniger Einzelpixel</translation>
    </message>
</context>
<context>
    <name>LandslideStyles</name>
    <message>
        <location filename="../processing_provider/styles.py" line="51"/>
        <source>less sure</source>
        <translation>weniger sicher</translation>
    </message>
    <message>
        <location filename="../processing_provider/styles.py" line="51"/>
        <source>fairly sure</source>
        <translation>recht sicher</translation>
    </message>
    <message>
        <location filename="../processing_provider/styles.py" line="51"/>
        <source>most sure</source>
        <translation>am sichersten</translation>
    </message>
    <message>
        <location filename="../processing_provider/styles.py" line="86"/>
        <source>{:.2f} (threshold)</source>
        <translation>{:.2f} (Schwellenwert)</translation>
    </message>
</context>
<context>
    <name>LandslidesAlgorithm</name>
    <message>
        <location filename="../processing_provider/algorithm_base.py" line="99"/>
        <source>Landslides</source>
        <translation>Rutschungen</translation>
    </message>
    <message>
        <location filename="../processing_provider/algorithm_base.py" line="125"/>
        <source>Could not open &apos;{}&apos; as a raster: choose a GeoTIFF or another raster file GDAL can read.</source>
        <translation>„{}“ ließ sich nicht als Raster öffnen: Wählen Sie ein GeoTIFF oder eine andere Rasterdatei, die GDAL lesen kann.</translation>
    </message>
    <message>
        <location filename="../processing_provider/algorithm_base.py" line="131"/>
        <source>The raster &apos;{}&apos; comes from the &apos;{}&apos; data provider; this algorithm reads raster files through GDAL. Save it as a GeoTIFF first (right-click the layer, Export, Save As) and run again.</source>
        <translation>Das Raster „{}“ stammt vom Datenprovider „{}“; dieser Algorithmus liest Rasterdateien über GDAL. Speichern Sie es zuerst als GeoTIFF (Rechtsklick auf den Layer, Exportieren, Speichern als) und starten Sie erneut.</translation>
    </message>
</context>
<context>
    <name>LandslidesProvider</name>
    <message>
        <location filename="../processing_provider/provider.py" line="21"/>
        <source>Landslide detection</source>
        <translation>Rutschungserkennung</translation>
    </message>
    <message>
        <location filename="../processing_provider/provider.py" line="24"/>
        <source>Landslide detection {}</source>
        <translation>Rutschungserkennung {}</translation>
    </message>
</context>
</TS>
